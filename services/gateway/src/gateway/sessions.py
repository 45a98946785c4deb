"""Session authentication: the cookie or bearer token resolved through identity, cached briefly.

A cache hit costs one SHA-256 and a dict lookup, no network hop. An entry lives SESSION_CACHE_SECONDS
(at most 4), counted from before the lookup was sent, so a revoked session stops working within that
bound; concurrent misses for one token share one lookup. Identity answers on an internal route that
the gateway never routes to (it is not under /api/), with an assertion signed for `identity-internal`.

CSRF: a cookie-authenticated unsafe request (not GET, HEAD, OPTIONS) must carry `X-CSRF-Token` equal to
the session's CSRF token (the `portal_csrf` cookie the page can read), and, when it has an `Origin`, come
from CORS_ORIGINS or the gateway's own host. On a public route a failed check just drops the session
(the request goes on anonymous); elsewhere it is a 403.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import msgspec
from portal_core.assertion import IDENTITY_HEADER, Identity
from portal_core.errors import Forbidden, ServiceUnavailable, Unauthorized
from portal_core.logging import get_logger
from portal_core.upstream import Origin, UpstreamError, UpstreamPool

from gateway.identity import AssertionCache
from gateway.public_routes import PublicRoutes

RESOLVE_PATH = "/internal/identity/v1/sessions/resolve"
_RESOLVE_TARGET = RESOLVE_PATH.encode()
_IDENTITY_HEADER = IDENTITY_HEADER.encode()
INTERNAL_AUDIENCE = "identity-internal"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_GATEWAY_CALLER = Identity()
_log = get_logger("gateway.sessions")


class Resolution(msgspec.Struct, kw_only=True):
    active: bool
    tenant_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    roles: list[str] = []
    mfa: bool = False
    csrf_hash: str | None = None


_decoder = msgspec.json.Decoder(Resolution)
_encoder = msgspec.json.Encoder()
_INACTIVE = Resolution(active=False)


class SessionCache:
    """token hash -> (resolution, expiry); bounded, expired entries dropped first."""

    def __init__(self, ttl_seconds: float, max_entries: int = 50_000) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[Resolution, float]] = {}
        self.inflight: dict[bytes, asyncio.Future[Resolution]] = {}

    def get(self, key: bytes, now: float) -> Resolution | None:
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        return None

    def put(self, key: bytes, resolution: Resolution, started: float) -> None:
        if len(self._entries) >= self._max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            if len(self._entries) >= self._max_entries:
                for stale in list(self._entries)[: max(1, self._max_entries // 10)]:
                    del self._entries[stale]
        self._entries[key] = (resolution, started + self.ttl_seconds)


class SessionResolver:
    """Resolves the caller of a request into an Identity, or raises 401/403 (see the module docstring)."""

    def __init__(
        self,
        pool: UpstreamPool,
        identity_url: str,
        assertions: AssertionCache,
        public_routes: PublicRoutes,
        *,
        cookie_name: str,
        cache_seconds: float,
        allowed_origins: list[str],
        timeout_seconds: float = 2.0,
    ) -> None:
        self._pool = pool
        self._identity = Origin.parse(identity_url)
        self._assertions = assertions
        self._public = public_routes
        self._cookie_name = cookie_name
        self._cookie_name_bytes = cookie_name.encode()
        self._cookie_prefix = self._cookie_name_bytes + b"="
        self.cache = SessionCache(cache_seconds)
        self._allowed_origins = frozenset(o.encode() for o in allowed_origins)
        self._timeout_seconds = timeout_seconds

    async def resolve(self, scope: dict[str, Any], client_ip: str) -> Identity:
        method: str = scope.get("method", "GET")
        path: str = scope["path"]
        websocket = scope["type"] == "websocket"
        token, from_cookie, csrf_header, origin, host = self._credentials(scope["headers"])
        if token is None:
            return self._anonymous_or_401(method, path, client_ip, "Sign in to use this route")
        try:
            resolution = await self._lookup(token)
        except ServiceUnavailable:
            if self._public.allows(method, path):
                return Identity(client_ip=client_ip)
            raise
        if not resolution.active:
            return self._anonymous_or_401(method, path, client_ip, "The session has expired or was revoked")
        if from_cookie and not self._cookie_use_allowed(resolution, method, websocket, csrf_header, origin, host):
            if self._public.allows(method, path):
                return Identity(client_ip=client_ip)
            raise Forbidden(
                "A cookie-authenticated request must send X-CSRF-Token (the portal_csrf cookie)", code="csrf_failed"
            )
        return Identity(
            tenant_id=resolution.tenant_id,
            user_id=resolution.user_id,
            session_id=resolution.session_id,
            roles=tuple(resolution.roles),
            mfa=resolution.mfa,
            client_ip=client_ip,
        )

    def _anonymous_or_401(self, method: str, path: str, client_ip: str, detail: str) -> Identity:
        if self._public.allows(method, path):
            return Identity(client_ip=client_ip)
        raise Unauthorized(detail, code="unauthenticated", headers={"www-authenticate": 'Bearer realm="portal"'})

    def _credentials(
        self, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, bool, bytes | None, bytes | None, bytes | None]:
        bearer = cookie = csrf = origin = host = None
        for name, value in headers:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer" and credentials.strip():
                    bearer = credentials.strip().decode("latin-1")
            elif name == b"cookie" and self._cookie_prefix in value:
                cookie = self._cookie_value(value) or cookie
            elif name == b"x-csrf-token":
                csrf = value
            elif name == b"origin":
                origin = value
            elif name == b"host":
                host = value
        if bearer is not None:  # an explicit bearer wins; no cookie, so no CSRF exposure
            return bearer, False, csrf, origin, host
        return cookie, cookie is not None, csrf, origin, host

    def _cookie_value(self, header: bytes) -> str | None:
        # A plain split, not http.cookies: this runs on every browser request. Our tokens need no quoting.
        for pair in header.split(b";"):
            name, _, value = pair.strip().partition(b"=")
            if name == self._cookie_name_bytes and value:
                return value.strip(b'"').decode("latin-1")
        return None

    def _cookie_use_allowed(
        self,
        resolution: Resolution,
        method: str,
        websocket: bool,
        csrf_header: bytes | None,
        origin: bytes | None,
        host: bytes | None,
    ) -> bool:
        known_origin = origin is None or origin in self._allowed_origins or _same_host(origin, host)
        if websocket:
            # Browsers send cookies on cross-site WebSocket handshakes: only our own origins may use them.
            return known_origin
        if method in _SAFE_METHODS:
            return True
        # Defence in depth beside the token: a browser's unsafe request from a foreign origin never uses the cookie.
        if not known_origin or csrf_header is None or resolution.csrf_hash is None:
            return False
        presented = hashlib.sha256(csrf_header.strip()).hexdigest()
        return hmac.compare_digest(presented, resolution.csrf_hash)

    async def _lookup(self, token: str) -> Resolution:
        key = hashlib.sha256(token.encode("latin-1")).digest()
        now = time.monotonic()
        cached = self.cache.get(key, now)
        if cached is not None:
            return cached
        task = self.cache.inflight.get(key)
        if task is None:
            # A task of its own: a client that disconnects cancels only its wait, not the others' lookup.
            task = asyncio.ensure_future(self._fetch(key, token, now))
            self.cache.inflight[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(task)

    async def _fetch(self, key: bytes, token: str, started: float) -> Resolution:
        resolution = await self._ask_identity(token)
        self.cache.put(key, resolution, started)
        return resolution

    def _settled(self, key: bytes, task: asyncio.Future[Resolution]) -> None:
        self.cache.inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning when every waiter has gone

    async def _ask_identity(self, token: str) -> Resolution:
        if len(token) > 256:
            return _INACTIVE
        headers = [
            (_IDENTITY_HEADER, self._assertions.assertion(_GATEWAY_CALLER, INTERNAL_AUDIENCE)),
            (b"content-type", b"application/json"),
        ]
        try:
            async with asyncio.timeout(self._timeout_seconds):
                status, body = await self._pool.fetch(
                    self._identity, b"POST", _RESOLVE_TARGET, headers, _encoder.encode({"token": token})
                )
            if status == 400:
                return _INACTIVE  # a token identity cannot even parse is no session
            if status != 200:
                _log.warning("session lookup refused", status=status)
                raise ServiceUnavailable("Sessions cannot be checked right now", code="identity_unavailable")
            return _decoder.decode(body)
        except (UpstreamError, TimeoutError, msgspec.DecodeError) as exc:
            _log.warning("session lookup failed", error=str(exc) or type(exc).__name__)
            raise ServiceUnavailable("Sessions cannot be checked right now", code="identity_unavailable") from None


def _same_host(origin: bytes, host: bytes | None) -> bool:
    return host is not None and origin.partition(b"://")[2] == host
