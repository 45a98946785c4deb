"""Typed settings read once from the environment, validated at start, secrets redacted."""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

import msgspec

from portal_core.dev_keys import DEV_ASSERTION_PUBLIC_JWKS


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks; call `.reveal()` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(RuntimeError):
    """Raised at start when the environment does not describe a runnable service."""


Environment = Literal["development", "test", "production"]


class BaseSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Fields every service reads. Field `foo_bar` comes from env var `FOO_BAR`.

    A `Secret` field with a default (a development value) must be set explicitly in production;
    a `Secret | None` field is optional everywhere (the feature it unlocks is simply off).
    Names in `required_in_production` must be set explicitly in production too (public keys, URLs).
    """

    required_in_production: ClassVar[tuple[str, ...]] = ()

    environment: Environment = "development"
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str | None = None
    service_instance_id: str = ""


S = TypeVar("S", bound=BaseSettings)


def _dec_hook(type_: type, value: Any) -> Any:
    if type_ is Secret:
        if isinstance(value, str):
            return Secret(value)
        raise msgspec.ValidationError("expected a string")
    raise NotImplementedError


def _is_required_secret(annotation: Any) -> bool:
    return annotation is Secret


def _secret_field_names(cls: type[BaseSettings]) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [name for name, hint in hints.items() if _is_required_secret(hint)]


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Build `cls` from environment variables (upper-cased field names); raise SettingsError on bad input."""
    env = os.environ if environ is None else environ
    names = [f.name for f in msgspec.structs.fields(cls)]
    raw = {name: env[name.upper()] for name in names if env.get(name.upper(), "") != ""}
    try:
        settings = msgspec.convert(raw, cls, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"{cls.__name__}: invalid environment: {_env_path(str(exc))}") from None
    if settings.environment == "production":
        required = [*_secret_field_names(cls), *cls.required_in_production]
        missing = [n.upper() for n in required if n not in raw]
        if missing:
            raise SettingsError(f"{cls.__name__}: production mode needs these set: {', '.join(sorted(missing))}")
    return settings


def redacted(settings: BaseSettings) -> dict[str, Any]:
    """Settings as a dict safe to log: every secret replaced by a mask."""
    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(settings):
        value = getattr(settings, field.name)
        if isinstance(value, Secret):
            value = "**********"
        elif isinstance(value, str) and "://" in value:
            value = _URL_PASSWORD.sub(r"\1**********@", value)
        out[field.name] = value
    return out


# scheme://user:password@host -> the password is masked; DSNs often carry one.
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def _env_path(message: str) -> str:
    # msgspec says "at `$.log_level`"; users set LOG_LEVEL.
    if "`$." in message:
        head, _, rest = message.partition("`$.")
        name, _, tail = rest.partition("`")
        return f"{head}{name.upper()}{tail}"
    return message


class ServiceSettings(BaseSettings, kw_only=True, frozen=True):
    """What a backend service behind the gateway reads (each service subclasses and adds its own)."""

    required_in_production: ClassVar[tuple[str, ...]] = ("database_url", "identity_assertion_public_jwks")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/portal"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: Secret | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    identity_assertion_public_jwks: str = DEV_ASSERTION_PUBLIC_JWKS
    # Signs list cursors (portal_core.pagination), so a forged or edited cursor is refused.
    cursor_secret: Secret = Secret("portal-dev-cursor-secret")
    host: str = "127.0.0.1"
    port: int = 8000
    # Which server runs the app (portal_core.server.serve): granian unless a service measured otherwise.
    asgi_server: Literal["granian", "uvicorn"] = "granian"
