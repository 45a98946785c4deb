"""WebSocket relay: one upstream connection per client, text and binary both ways, close codes kept."""

from __future__ import annotations

import asyncio

from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from portal_core.errors import BadGateway, GatewayTimeout, PortalError, error_for_status
from portal_core.telemetry import tracer
from portal_core.upstream import RawHeaders
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from gateway.responses import Receive, Scope, Send

_tracer = tracer("gateway.websocket")
# Codes that may not travel in a close frame (RFC 6455 7.4.1) become the nearest one that may.
_NO_STATUS, _ABNORMAL = 1005, 1006


def _sendable(code: int | None) -> int:
    if code is None or code == _NO_STATUS:
        return 1000
    if 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999:
        return code
    return 1011  # abnormal closure or TLS failure upstream: "server error" is the honest answer


class WebSocketProxy:
    def __init__(self, *, max_message_bytes: int, open_timeout_seconds: float) -> None:
        self._max_message = max_message_bytes
        self._open_timeout = open_timeout_seconds

    async def forward(self, scope: Scope, receive: Receive, send: Send, url: str, headers: RawHeaders) -> None:
        """Open the upstream first, then accept the client with the subprotocol the upstream chose."""
        if (await receive())["type"] != "websocket.connect":
            return
        with _tracer.start_as_current_span(f"WS {scope.get('route_template', '')}", kind=SpanKind.CLIENT):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            upstream = await self._open(url, headers, carrier, scope.get("subprotocols") or [])
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        to_upstream = asyncio.ensure_future(_client_to_upstream(receive, upstream))
        to_client = asyncio.ensure_future(_upstream_to_client(upstream, send))
        try:
            await asyncio.wait((to_upstream, to_client), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_upstream, to_client):
                task.cancel()
            await asyncio.gather(to_upstream, to_client, return_exceptions=True)
            await upstream.close()

    async def _open(
        self, url: str, headers: RawHeaders, trace_headers: dict[str, str], subprotocols: list[str]
    ) -> ClientConnection:
        additional = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        additional.extend(trace_headers.items())
        try:
            return await connect(
                url,
                additional_headers=additional,
                subprotocols=subprotocols or None,  # type: ignore[arg-type]
                open_timeout=self._open_timeout,
                max_size=self._max_message,
                compression=None,  # relayed frames are re-framed anyway; spare the CPU
                user_agent_header=None,
                proxy=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            error: PortalError = error_for_status(status) if 400 <= status < 600 else BadGateway()
            raise error from None
        except TimeoutError:
            raise GatewayTimeout() from None
        except (OSError, InvalidHandshake) as exc:
            raise BadGateway(type(exc).__name__) from None


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            await upstream.send(text if text is not None else (message.get("bytes") or b""))
        elif message["type"] == "websocket.disconnect":
            await upstream.close(_sendable(message.get("code")), message.get("reason") or "")
            return


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        pass
    code = upstream.close_code if upstream.close_code is not None else _ABNORMAL
    await send({"type": "websocket.close", "code": _sendable(code), "reason": upstream.close_reason or ""})
