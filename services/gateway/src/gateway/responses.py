"""Small raw-ASGI responses: JSON, problem+json (portal_core.errors) and empty ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from portal_core.errors import PROBLEM_CONTENT_TYPE, PortalError, encode_problem
from portal_core.upstream import RawHeaders

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Scope = dict[str, Any]
HeaderSeq = Sequence[tuple[bytes, bytes]]

_json = msgspec.json.Encoder()


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: HeaderSeq = (),
    *,
    head: bool = False,
    message_prefix: str = "http.response",
) -> None:
    """A whole response; `message_prefix="websocket.http.response"` answers a refused WebSocket handshake."""
    start = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": f"{message_prefix}.start", "status": status, "headers": start})
    await send({"type": f"{message_prefix}.body", "body": b"" if head else body})


async def send_json(send: Send, status: int, payload: Any, headers: HeaderSeq = (), *, head: bool = False) -> None:
    await send_body(send, status, _json.encode(payload), b"application/json", headers, head=head)


async def send_problem(
    scope: Scope, send: Send, error: PortalError, headers: HeaderSeq = (), *, message_prefix: str = "http.response"
) -> None:
    """The error as RFC 9457 problem+json, carrying the request id and the error's own headers."""
    body = encode_problem(error.problem(request_id_of(scope)))
    extra = [*headers, *((k.lower().encode(), v.encode()) for k, v in error.headers.items())]
    head = scope.get("method") == "HEAD"
    await send_body(
        send, error.status, body, PROBLEM_CONTENT_TYPE.encode(), extra, head=head, message_prefix=message_prefix
    )


async def send_empty(send: Send, status: int, headers: RawHeaders) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
