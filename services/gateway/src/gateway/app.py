"""The gateway's composition root: a plain ASGI app wrapped by portal_core's ObservabilityMiddleware.

Why not litestar here, unlike the services: the gateway has no handlers to speak of, only a prefix
match and a stream relay, on a path with a 1 ms budget. Its per-request CPU is what caps throughput
(bench/gateway_bench.py: the gateway saturates its core long before the upstream does), so it pays
for no router, Request or Response objects; four admin routes do not need them either. Errors still
come from portal_core.errors, so clients see the same problem+json as from every service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal_core.assertion import IDENTITY_HEADER, AssertionSigner, Identity
from portal_core.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    PortalError,
    ServiceUnavailable,
    TooManyRequests,
)
from portal_core.logging import get_logger
from portal_core.observability import ObservabilityMiddleware
from portal_core.rate_limit import Rate, RateLimiter, Spend
from portal_core.redis import create_redis
from portal_core.settings import load_settings, redacted
from portal_core.telemetry import Telemetry, setup_telemetry
from portal_core.upstream import RawHeaders, UpstreamPool
from redis.asyncio import Redis

from gateway.access_reports import DENIED, AccessReporter
from gateway.admin import ADMIN_PATHS, AdminRoutes
from gateway.cors import CorsPolicy
from gateway.headers import ClientAddressResolver, upstream_request_headers
from gateway.identity import AnonymousResolver, AssertionCache, IdentityResolver
from gateway.proxy import HttpProxy, content_length
from gateway.public_routes import PublicRoutes
from gateway.responses import Receive, Scope, Send, send_empty, send_problem
from gateway.routing import Routes, Target
from gateway.sessions import SessionResolver
from gateway.settings import GatewaySettings
from gateway.websocket_proxy import WebSocketProxy

SERVICE = "gateway"
_IDENTITY_HEADER = IDENTITY_HEADER.encode()
_log = get_logger("gateway")


@dataclass
class GatewayState:
    """Everything the lifespan builds; requests only read it."""

    telemetry: Telemetry
    redis: Redis
    upstreams: UpstreamPool  # every HTTP call the gateway makes: relayed requests and session lookups
    routes: Routes
    admin: AdminRoutes
    cors: CorsPolicy
    addresses: ClientAddressResolver
    limiter: RateLimiter
    client_rate: Rate  # per client IP
    assertions: AssertionCache
    http: HttpProxy
    websocket: WebSocketProxy
    resolver: IdentityResolver


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        resolver: IdentityResolver | None = None,
    ) -> None:
        self.settings = settings
        self._resolver = resolver  # None: built at start from the settings (sessions through identity, or anonymous)
        self.state: GatewayState | None = None
        self.access_reports = AccessReporter(settings.nats_url, capacity=settings.access_report_buffer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        origin = preflight_method = preflight_headers = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight_method = value
            elif name == b"access-control-request-headers":
                preflight_headers = value
        extra: RawHeaders = []
        try:
            if state is None:
                raise ServiceUnavailable("The gateway is starting", code="starting")
            extra = state.cors.response_headers(origin)
            path: str = scope["path"]
            if path in ADMIN_PATHS:
                scope["route_template"] = path
                await state.admin.handle(scope, send, extra)
                return
            if origin is not None and preflight_method is not None and scope["method"] == "OPTIONS":
                allowed = state.cors.preflight_headers(origin, preflight_headers)
                if allowed is None:
                    raise Forbidden("This origin may not call the API", code="cors_origin_not_allowed")
                await send_empty(send, 204, allowed)
                return
            target, headers, identity = await self._admit(scope, state, extra)
            try:
                declared = content_length(scope["headers"])
            except ValueError:
                raise BadRequest("Content-Length is not a number") from None
            if declared is not None and declared > self.settings.max_body_bytes:
                raise PayloadTooLarge(f"The request body exceeds {self.settings.max_body_bytes} bytes")
            status = await state.http.forward(scope, receive, send, target.origin, _target(scope), headers, extra)
            if status in DENIED:  # a service refused the caller: the tenant's audit log shows who tried
                self.access_reports.report(scope, status, "denied_by_service", identity)
        except PortalError as error:
            if error.status >= 500:
                _log.warning("request failed", code=error.code, detail=error.detail)
            self.access_reports.report(scope, error.status, error.code)  # 401/403 only; never blocks
            await send_problem(scope, send, error, extra)
        except Exception:
            _log.exception("unhandled error", path=scope.get("path"))
            await send_problem(scope, send, PortalError(), extra)

    async def _admit(self, scope: Scope, state: GatewayState, extra: RawHeaders) -> tuple[Target, RawHeaders, Identity]:
        """Rate limit, route, identity: the headers to send upstream, or a PortalError (extra is filled in)."""
        forwarded = state.addresses.resolve(scope)
        decision = await state.limiter.acquire(Spend(forwarded.client_ip, state.client_rate))
        if decision is not None:
            extra.extend(decision.headers())
            if not decision.allowed:
                raise TooManyRequests(decision.retry_after_seconds, "Slow down and retry after the given delay")
        target = state.routes.target(scope["path"])
        scope["route_template"] = target.route_template
        identity = await state.resolver.resolve(scope, forwarded.client_ip)
        request_id = str(scope["state"].get("request_id", ""))
        headers = upstream_request_headers(
            scope["headers"], forwarded, request_id, websocket=scope["type"] == "websocket"
        )
        headers.append((_IDENTITY_HEADER, state.assertions.assertion(identity, target.service)))
        return target, headers, identity

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        try:
            if state is None:
                raise ServiceUnavailable("The gateway is starting", code="starting")
            target, headers, _ = await self._admit(scope, state, [])
            url = "ws" + target.base_url.removeprefix("http") + _target(scope).decode("latin-1")
            await state.websocket.forward(scope, receive, send, url, headers)
        except PortalError as error:
            await _reject_websocket(scope, send, error)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.state = self._start()
                    await self.access_reports.start(self.state.addresses)
                except Exception as exc:
                    _log.exception("gateway failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> GatewayState:
        settings = self.settings
        telemetry = setup_telemetry(SERVICE, settings)
        # A short Redis timeout: the rate limit sits on every request and fails open (see RateLimiter).
        redis = create_redis(settings.redis_host, settings.redis_port, settings.redis_password, timeout_seconds=0.5)
        upstreams = UpstreamPool(
            connect_timeout=min(settings.upstream_timeout_seconds, 5.0), read_timeout=settings.upstream_timeout_seconds
        )
        routes = Routes(settings.upstream_urls())
        signer = AssertionSigner(
            settings.identity_assertion_private_jwk.reveal(), ttl_seconds=settings.identity_assertion_ttl_seconds
        )
        assertions = AssertionCache(signer)
        state = GatewayState(
            telemetry=telemetry,
            redis=redis,
            upstreams=upstreams,
            routes=routes,
            admin=AdminRoutes(redis, routes.services),
            cors=CorsPolicy(settings.cors_origin_list()),
            addresses=ClientAddressResolver(settings.trusted_proxy_networks()),
            limiter=RateLimiter(redis, key_prefix=f"{settings.redis_key_prefix}rl:"),
            client_rate=Rate(settings.rate_limit_requests, settings.rate_limit_window_seconds),
            assertions=assertions,
            http=HttpProxy(upstreams, settings.max_body_bytes),
            websocket=WebSocketProxy(
                max_message_bytes=settings.max_body_bytes, open_timeout_seconds=settings.upstream_timeout_seconds
            ),
            resolver=self._resolver or _session_resolver(settings, upstreams, assertions),
        )
        _log.info("gateway started", services=routes.services, settings=redacted(settings))
        return state

    async def _stop(self) -> None:
        state = self.state
        if state is None:
            return
        state.admin.shutting_down = True
        await self.access_reports.stop()
        await state.upstreams.close()
        await state.limiter.flush()
        await state.redis.aclose()
        # Flush, not shut down: the providers are process-wide and outlive one app (tests build several).
        state.telemetry.tracer_provider.force_flush()
        state.telemetry.meter_provider.force_flush()
        _log.info("gateway stopped")


def _session_resolver(
    settings: GatewaySettings, upstreams: UpstreamPool, assertions: AssertionCache
) -> IdentityResolver:
    if not settings.sessions_enabled():
        if settings.environment == "production" and settings.session_auth == "auto":
            # Checked at start, not in the settings, so a missing secret is still reported first.
            raise RuntimeError("production: set UPSTREAM_IDENTITY_URL, or SESSION_AUTH=off to run without sessions")
        return AnonymousResolver()
    return SessionResolver(
        upstreams,
        settings.upstream_urls()["identity"],
        assertions,
        PublicRoutes(settings.public_routes),
        cookie_name=settings.session_cookie_name,
        cache_seconds=settings.session_cache_seconds,
        allowed_origins=settings.cors_origin_list(),
    )


def _target(scope: Scope) -> bytes:
    """The request target (path and query) as the client sent it: services get exactly what was asked for."""
    path: bytes | None = scope.get("raw_path")
    if not path:
        path = scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    return path + b"?" + query if query else path


async def _reject_websocket(scope: Scope, send: Send, error: PortalError) -> None:
    # With the ASGI "websocket.http.response" extension the client sees the real status and problem body.
    if "websocket.http.response" in scope.get("extensions", {}):
        await send_problem(scope, send, error, message_prefix="websocket.http.response")
    else:
        await send({"type": "websocket.close", "code": 1008 if error.status < 500 else 1011})


def create_app(
    settings: GatewaySettings | None = None,
    resolver: IdentityResolver | None = None,
) -> Any:
    """The ASGI app; with no arguments it reads the environment (what `python -m gateway` serves)."""
    gateway = Gateway(settings or load_settings(GatewaySettings), resolver)
    return ObservabilityMiddleware(gateway, SERVICE)
