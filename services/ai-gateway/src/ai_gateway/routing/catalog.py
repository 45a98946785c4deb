"""Which provider and model a requested name means: `provider/model`, an alias, or a bare model name."""

from __future__ import annotations

from dataclasses import dataclass

from ai_gateway.chat.errors import ModelNotFound

# Bare names are recognised by their family; anything else needs `provider/model` or an alias.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gemini"),
)


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model: str

    @property
    def qualified(self) -> str:
        return f"{self.provider}/{self.model}"


class Catalog:
    """Resolves names against the configured providers. `local` is chosen only by name, unless no
    real provider is configured at all (then bare names go to it, so a keyless `make dev` works)."""

    def __init__(
        self,
        providers: set[str],
        aliases: dict[str, str],
        fallbacks: dict[str, list[str]],
        listed: dict[str, list[str]],
    ) -> None:
        self.providers = providers
        self._aliases = aliases
        self._fallbacks = fallbacks
        self._listed = listed
        self._only_local = providers <= {"local"}

    def resolve(self, name: str) -> ModelRef:
        target = self._aliases.get(name, name)
        provider, sep, model = target.partition("/")
        if sep and provider in self.providers and model:
            return ModelRef(provider, model)
        if sep and provider in ("openai", "anthropic", "gemini", "local"):
            raise ModelNotFound(f"The provider of model '{name}' is not configured on this gateway", param="model")
        if self._only_local and target:
            return ModelRef("local", target)
        for prefix, family in _FAMILIES:
            if target.startswith(prefix) and family in self.providers:
                return ModelRef(family, target)
        raise ModelNotFound(f"The model '{name}' does not exist; use provider/model or an alias", param="model")

    def candidates(self, name: str) -> list[ModelRef]:
        """The model asked for, then its configured fallbacks that are available, in order."""
        first = self.resolve(name)
        chain = [first]
        for fallback in self._fallbacks.get(name, self._fallbacks.get(first.qualified, [])):
            try:
                ref = self.resolve(fallback)
            except ModelNotFound:
                continue  # a fallback on a provider without a key is simply skipped
            if ref not in chain:
                chain.append(ref)
        return chain

    def listed(self) -> list[str]:
        """Every model GET /models shows: configured aliases, listed models, local's echo."""
        names = [f"{p}/{m}" for p, models in self._listed.items() if p in self.providers for m in models]
        if "local" in self.providers:
            names.append("local/echo")
        names += [alias for alias, target in self._aliases.items() if self._resolvable(target)]
        return sorted(set(names))

    def _resolvable(self, name: str) -> bool:
        try:
            self.resolve(name)
        except ModelNotFound:
            return False
        return True
