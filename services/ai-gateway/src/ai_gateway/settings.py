"""The AI gateway's settings: provider keys and base URLs, aliases, fallbacks, prices, limits."""

from __future__ import annotations

import json
from typing import Any, Literal

from portal_core.settings import Secret, ServiceSettings

SERVICE = "ai"  # route prefix /api/ai, assertion audience, DB role and schema
SCHEMA = "ai"
PROVIDERS = ("openai", "anthropic", "gemini")


class AiSettings(ServiceSettings, kw_only=True, frozen=True):
    port: int = 8003
    # uvicorn by measurement (bench/ai_bench.py, alternating runs): added p50 1.93 and 2.12 ms against
    # granian's 2.51 and 2.32 ms. Like the gateway, this service mostly relays (one upstream call a request).
    asgi_server: Literal["granian", "uvicorn"] = "uvicorn"

    # A provider without a key is absent. Base URLs point the SDKs elsewhere (a proxy, or a test server).
    openai_api_key: Secret | None = None
    anthropic_api_key: Secret | None = None
    gemini_api_key: Secret | None = None
    openai_base_url: str | None = None
    anthropic_base_url: str | None = None
    gemini_base_url: str | None = None

    provider_timeout_seconds: float = 120.0
    provider_connect_timeout_seconds: float = 5.0
    retry_attempts: int = 3  # per candidate model, the first try included
    retry_backoff_initial_seconds: float = 0.5  # then doubling, with jitter, up to the max
    retry_backoff_max_seconds: float = 8.0
    retry_max_wait_seconds: float = 20.0  # a longer Retry-After moves on to the next candidate instead
    breaker_failure_threshold: int = 5
    breaker_reset_seconds: float = 30.0
    default_max_tokens: int = 4096  # Anthropic requires max_tokens; used when the client sent none

    # JSON objects. Aliases: {"fast": "openai/gpt-4o-mini"}.
    # Fallbacks, tried in order: {"openai/gpt-4o": ["anthropic/claude-sonnet-4-5"]}.
    model_aliases: str = ""
    model_fallbacks: str = ""
    # {"openai/gpt-4o": {"input": 2.5, "output": 10, "cached_input": 1.25}}: USD per million tokens.
    model_prices: str = ""
    # {"openai": ["gpt-4o", "gpt-4o-mini"]}: what GET /models lists (any provider/model is still accepted).
    provider_models: str = ""

    tenant_requests_per_minute: int = 600
    user_requests_per_minute: int = 120
    tenant_tokens_per_minute: int = 2_000_000
    user_tokens_per_minute: int = 400_000
    redis_key_prefix: str = "portal:ai:"
    local_stream_delay_seconds: float = 0.0
    # A call whose start row nobody renewed for this long is settled as `interrupted` (its process died).
    # Unset: PROVIDER_TIMEOUT_SECONDS.
    interrupted_after_seconds: float | None = None
    # How long admission may reuse a tenant's policy and budget read (chat/tenant_state.py); 0: every call.
    tenant_state_ttl_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("model_aliases", "model_fallbacks", "model_prices", "provider_models"):
            _json_object(name, getattr(self, name))
        for name in ("retry_attempts", "breaker_failure_threshold", "default_max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()} must be at least 1")
        if self.provider_timeout_seconds <= 0 or self.provider_connect_timeout_seconds <= 0:
            raise ValueError("PROVIDER_TIMEOUT_SECONDS and PROVIDER_CONNECT_TIMEOUT_SECONDS must be positive")
        if self.tenant_state_ttl_seconds < 0:
            raise ValueError("TENANT_STATE_TTL_SECONDS must not be negative")

    def stale_after_seconds(self) -> float:
        return self.interrupted_after_seconds or self.provider_timeout_seconds

    def aliases(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in _json_object("model_aliases", self.model_aliases).items()}

    def fallbacks(self) -> dict[str, list[str]]:
        raw = _json_object("model_fallbacks", self.model_fallbacks)
        return {str(k): [str(x) for x in v] for k, v in raw.items() if isinstance(v, list)}

    def prices(self) -> dict[str, dict[str, float]]:
        raw = _json_object("model_prices", self.model_prices)
        return {str(k): {str(n): float(p) for n, p in v.items()} for k, v in raw.items() if isinstance(v, dict)}

    def listed_models(self) -> dict[str, list[str]]:
        raw = _json_object("provider_models", self.provider_models)
        return {str(k): [str(x) for x in v] for k, v in raw.items() if isinstance(v, list)}


def _json_object(name: str, text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"{name.upper()} must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name.upper()} must be a JSON object")
    return value
