"""The gateway's settings: where each service lives, CORS, rate limits, body limit, signing key."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Literal

from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from portal_core.settings import BaseSettings, Secret

from gateway.public_routes import DEFAULT_PUBLIC_ROUTES, PublicRoutes

# The services of the suite, by the name that appears in /api/<name>/; a known name without a URL is "not deployed".
KNOWN_SERVICES = ("identity", "storage", "ai", "webhooks", "realtime", "audit")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_RESERVED_NAMES = frozenset({"docs", "oauth"})  # /api/docs is the gateway's; /api/oauth/* goes to identity
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class GatewaySettings(BaseSettings, kw_only=True, frozen=True):
    """Every field comes from the upper-cased env var (`UPSTREAM_AI_URL`, `CORS_ORIGINS`, ...)."""

    host: str = "127.0.0.1"
    port: int = 4000
    # uvicorn measured a little ahead of granian on the proxy path (bench/gateway_bench.py, see __main__).
    asgi_server: Literal["granian", "uvicorn"] = "uvicorn"
    workers: int = 1

    upstream_identity_url: str | None = None
    upstream_storage_url: str | None = None
    upstream_ai_url: str | None = None
    upstream_webhooks_url: str | None = None
    upstream_realtime_url: str | None = None
    upstream_audit_url: str | None = None
    # JSON object {"name": "http://host:port"}: more services (or overrides); the named variables win.
    upstreams: str = ""
    upstream_timeout_seconds: float = 30.0

    cors_origins: str = ""  # comma separated; "*" allows any origin, but never with credentials
    # Comma separated IPs or CIDRs of our own load balancers; X-Forwarded-For is read only from them.
    trusted_proxies: str = ""

    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: Secret | None = None
    redis_key_prefix: str = "portal:gateway:"
    rate_limit_requests: int = 600
    rate_limit_window_seconds: int = 60

    max_body_bytes: int = 10 * 1024 * 1024  # uploads go straight to S3 with presigned URLs
    identity_assertion_private_jwk: Secret = Secret(DEV_ASSERTION_PRIVATE_JWK)
    identity_assertion_ttl_seconds: int = 60

    # Denied requests (401/403) are published to JetStream for the audit log when NATS_URL is set.
    nats_url: str | None = None
    access_report_buffer: int = 10_000  # reports held while NATS is away; more are dropped and counted

    # Sessions (docs/identity.md): "auto" requires one on every non-public /api/ route when an identity
    # service is configured; "required" always; "off" never (everyone anonymous).
    session_auth: Literal["auto", "required", "off"] = "auto"
    public_routes: str = DEFAULT_PUBLIC_ROUTES  # comma-separated `[METHOD ]PATH` rules
    session_cookie_name: str = "portal_session"
    # How long a session lookup is reused: a revoked session stops working within this (at most 4 s).
    session_cache_seconds: float = 2.0

    def __post_init__(self) -> None:
        # Raised here, msgspec reports it as a validation error, so a bad environment stops the start.
        self.upstream_urls()
        self.trusted_proxy_networks()
        for name, value in (
            ("rate_limit_requests", self.rate_limit_requests),
            ("rate_limit_window_seconds", self.rate_limit_window_seconds),
            ("max_body_bytes", self.max_body_bytes),
            ("identity_assertion_ttl_seconds", self.identity_assertion_ttl_seconds),
        ):
            if value < 1:
                raise ValueError(f"{name.upper()} must be at least 1")
        if self.upstream_timeout_seconds <= 0:
            raise ValueError("UPSTREAM_TIMEOUT_SECONDS must be positive")
        if not 0 < self.session_cache_seconds <= 4:
            raise ValueError("SESSION_CACHE_SECONDS must be in (0, 4]: revoked sessions must stop within 5 s")
        PublicRoutes(self.public_routes)
        if self.session_auth == "required" and "identity" not in self.upstream_urls():
            raise ValueError("SESSION_AUTH=required needs UPSTREAM_IDENTITY_URL")

    def sessions_enabled(self) -> bool:
        """Whether the gateway authenticates sessions through identity (see SESSION_AUTH)."""
        return self.session_auth == "required" or (self.session_auth == "auto" and "identity" in self.upstream_urls())

    def upstream_urls(self) -> dict[str, str]:
        """Service name -> base URL (no trailing slash), from UPSTREAMS merged with UPSTREAM_<NAME>_URL."""
        merged: dict[str, str] = {}
        if self.upstreams:
            try:
                extra = json.loads(self.upstreams)
            except ValueError:
                raise ValueError("UPSTREAMS must be a JSON object of name -> URL") from None
            if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
                raise ValueError("UPSTREAMS must be a JSON object of name -> URL")
            merged.update(extra)
        for name in KNOWN_SERVICES:
            url = getattr(self, f"upstream_{name}_url")
            if url:
                merged[name] = url
        for name, url in merged.items():
            if not _SERVICE_NAME.match(name) or name in _RESERVED_NAMES:
                raise ValueError(f"service name {name!r}: lower-case letters, digits, dashes; not docs or oauth")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"upstream URL for {name!r} must start with http:// or https://")
        return {name: url.rstrip("/") for name, url in merged.items()}

    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def trusted_proxy_networks(self) -> list[IpNetwork]:
        try:
            return [ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()]
        except ValueError as exc:
            raise ValueError(f"TRUSTED_PROXIES: {exc}") from None
