"""One ASGI middleware for every app: request id, server span (W3C trace context), HTTP metrics."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import structlog
from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from portal_core.request_context import begin_request, end_request
from portal_core.telemetry import meter, start_span, tracer

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_meter = meter("portal.http")
# One histogram, no separate counter: its count is the request count (one measurement per request on
# the gateway's hot path instead of two).
_duration = _meter.create_histogram("http.server.duration", unit="s", description="HTTP requests served, by duration")
_tracer = tracer("portal.http")


def request_id_from_headers(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-Id when it is a safe token, else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and _VALID_REQUEST_ID.match(value):
            return value.decode()
    return os.urandom(16).hex()  # as unique as a UUID4's hex, without building a UUID per request


class _HeaderCarrier:
    """Lets the W3C propagator read ASGI's raw header list without building a dict per request."""

    @staticmethod
    def get(headers: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.encode()
        for name, value in headers:
            if name == wanted:
                return [value.decode("latin-1")]
        return None

    @staticmethod
    def keys(headers: list[tuple[bytes, bytes]]) -> list[str]:
        return [name.decode("latin-1") for name, _ in headers]


_carrier = _HeaderCarrier()


class ObservabilityMiddleware:
    """Pure ASGI (no per-message spans): cheaper than the generic ASGI instrumentation on a hot path."""

    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        request_id = request_id_from_headers(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["path"] in _UNTRACED_PATHS:
            await self.app(scope, receive, _with_request_id(send, request_id, {}))
            return
        token = begin_request(request_id, _user_agent(headers))
        try:
            await self._traced(scope, receive, send, headers, request_id)
        finally:
            end_request(token)

    async def _traced(
        self, scope: dict[str, Any], receive: Any, send: Any, headers: list[tuple[bytes, bytes]], request_id: str
    ) -> None:
        method = scope.get("method", "WS")
        started = time.perf_counter()
        outcome: dict[str, int] = {}
        parent = propagate.extract(headers, getter=_carrier)  # type: ignore[arg-type]
        # start_span and attach, not start_as_current_span: its generator context managers cost the
        # gateway a few percent of its CPU per request.
        span = start_span(_tracer, method, context=parent, kind=SpanKind.SERVER)
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, _with_request_id(send, request_id, outcome))
        finally:
            route = scope.get("path_template") or scope.get("route_template") or "unmatched"
            status = outcome.get("status", 500)
            span.update_name(f"{method} {route}")
            span.set_attributes(
                {
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": status,
                    "portal.request_id": request_id,
                }
            )
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
            context.detach(token)
            _duration.record(time.perf_counter() - started, {"method": method, "route": route, "status": status})


def _user_agent(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"user-agent":
            return value
    return None


def _with_request_id(send: Any, request_id: str, outcome: dict[str, int]) -> Any:
    header = (b"x-request-id", request_id.encode())

    async def send_with_request_id(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            outcome["status"] = message["status"]
            message["headers"] = [*message.get("headers", ()), header]
        elif message["type"] == "websocket.accept":
            outcome["status"] = 101
        await send(message)

    return send_with_request_id


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
