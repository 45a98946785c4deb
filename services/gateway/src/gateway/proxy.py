"""The streaming HTTP proxy: request and response bodies pass chunk by chunk, never buffered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from opentelemetry import propagate
from portal_core.errors import BadGateway, BadRequest, GatewayTimeout, PayloadTooLarge
from portal_core.logging import get_logger
from portal_core.upstream import Origin, RawHeaders, UpstreamError, UpstreamPool, UpstreamResponse, UpstreamTimeout

from gateway.headers import client_response_headers
from gateway.responses import Receive, Scope, Send

_log = get_logger("gateway.proxy")
# Answers up to this size are read whole before they are relayed (most API answers); larger ones and
# answers of unknown length (SSE, chunked) stream chunk by chunk.
SMALL_BODY_BYTES = 64 * 1024
# Bytes that can never be part of a request target: they would split or end the request line.
_NOT_IN_TARGET = frozenset(b"\r\n \t\x00")
# Safe to send again when a kept-alive connection turns out closed (RFC 9110 9.2.2, as Go's transport).
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE"})


class _RequestBody:
    """The client's body as an async iterator of ASGI chunks, counted against the limit as it streams."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self.too_large = False
        self.client_gone = False

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                raise ConnectionResetError("client disconnected")
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > self._limit:
                # Raised inside the upstream body writer: the upstream connection is dropped mid-request.
                self.too_large = True
                raise ConnectionAbortedError("request body over the limit")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class HttpProxy:
    def __init__(self, pool: UpstreamPool, max_body_bytes: int) -> None:
        self._pool = pool
        self._max_body = max_body_bytes

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        origin: Origin,
        target: bytes,
        headers: RawHeaders,
        extra: RawHeaders,
    ) -> int | None:
        """Send the request for `target` (path and query, as the client encoded them) to `origin` and relay
        the answer, adding `extra` headers (CORS, rate limit).

        Returns the upstream's status, or None when the client went away before it answered.
        """
        if not _NOT_IN_TARGET.isdisjoint(target):
            raise BadRequest("The request cannot be forwarded as sent")
        method: bytes = scope["method"].encode()
        body = _RequestBody(receive, self._max_body) if _has_body(scope["headers"]) else None
        chunked = body is not None and not _has_length(headers)  # the client's length, else chunked framing
        head = _request_head(method, origin, target, headers, chunked=chunked)
        try:
            response = await self._pool.request(
                origin,
                head,
                body.chunks() if body is not None else None,
                chunked=chunked,
                expect_no_body=method == b"HEAD",
                replayable=body is None and (method in _IDEMPOTENT or _has_idempotency_key(headers)),
            )
        except (UpstreamError, ConnectionError) as exc:
            if body is not None and body.client_gone:
                return None
            if body is not None and body.too_large:
                raise PayloadTooLarge(f"The request body exceeds {self._max_body} bytes") from None
            raise _error_for(exc) from None
        try:
            await self._relay(response, receive, send, extra, head=method == b"HEAD")
        finally:
            response.release()
        return response.status

    async def _relay(
        self, response: UpstreamResponse, receive: Receive, send: Send, extra: RawHeaders, *, head: bool
    ) -> None:
        headers = client_response_headers(response.headers)
        headers.extend(extra)
        length = response.content_length
        if head or (length is not None and length <= SMALL_BODY_BYTES):
            # Read whole, then sent in one message: the server can write head and body together, and an
            # upstream failing mid-body still gets a clean 502 instead of a truncated answer.
            try:
                content = b"" if head else await response.read()
            except UpstreamError as exc:
                raise _error_for(exc) from None
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await send({"type": "http.response.body", "body": content, "more_body": False})
            return
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if length is not None:
            await _pump(response, send)
            return
        # A stream of unknown length (SSE, chunked): stop reading the upstream when the client leaves,
        # since some servers silently drop writes to a closed connection instead of failing them.
        pump = asyncio.ensure_future(_pump(response, send))
        watch = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, watch):
                task.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
        failure = None if pump.cancelled() else pump.exception()
        if failure is not None:
            raise failure


async def _pump(response: UpstreamResponse, send: Send) -> None:
    try:
        async for chunk in response.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        # Too late for a problem response: leave it incomplete so the server closes the connection
        # and the client sees a truncated body rather than a clean end.
        _log.warning("upstream failed mid-response", error=str(exc))
        return
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error_for(exc: Exception) -> Exception:
    if isinstance(exc, UpstreamTimeout):
        return GatewayTimeout()
    return BadGateway(str(exc) if isinstance(exc, UpstreamError) else type(exc).__name__)


def _request_head(method: bytes, origin: Origin, target: bytes, headers: RawHeaders, *, chunked: bool) -> bytes:
    """The request line and headers, as one buffer: one write, one packet for a request without a body."""
    # One span per hop, as Envoy does by default: the service's span is a child of the gateway's
    # server span. A client span per request as well cost 9 % of the gateway's CPU at saturation
    # and told nothing the server span does not (its status is the upstream's).
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    lines = [b"%b %b%b HTTP/1.1\r\nhost: %b" % (method, origin.prefix, target, origin.host_header)]
    lines.extend(name + b": " + value for name, value in headers)
    lines.extend(f"{name}: {value}".encode("latin-1") for name, value in carrier.items())
    if chunked:
        lines.append(b"transfer-encoding: chunked")
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"transfer-encoding" or (name == b"content-length" and value != b"0") for name, value in headers)


def _has_idempotency_key(headers: RawHeaders) -> bool:
    return any(name in (b"idempotency-key", b"x-idempotency-key") for name, _ in headers)


def _has_length(headers: RawHeaders) -> bool:
    return any(name == b"content-length" for name, _ in headers)


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared body size; ValueError when it is not a number."""
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit():
                raise ValueError("bad content-length")
            return int(value)
    return None
