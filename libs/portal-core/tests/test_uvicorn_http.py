"""uvicorn on the tick-buffered transport: a response written in one go leaves in one send."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from portal_core.testing import ThreadServer, answer_lifespan
from portal_core.uvicorn_http import _TickBufferedTransport


class _Recording:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_writes_in_one_tick_leave_together_and_close_sends_first() -> None:
    real = _Recording()
    buffered = _TickBufferedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    buffered.write(b"head")
    buffered.writelines([b"-", b"body"])
    assert real.sent == []
    await asyncio.sleep(0)
    assert real.sent == [b"head-body"]
    buffered.write(b"last")
    buffered.close()  # what was written before close still goes out, before it
    assert real.sent == [b"head-body", b"last"]
    assert real.closed
    assert buffered.get_extra_info("peername") == "info:peername"  # everything else is the real transport's


async def test_abort_drops_what_is_pending() -> None:
    real = _Recording()
    buffered = _TickBufferedTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    buffered.write(b"never")
    buffered.abort()
    await asyncio.sleep(0)
    assert real.sent == []
    assert real.aborted


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(3):
            await send({"type": "http.response.body", "body": b"chunk%d;" % n, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})
    if scope["path"] == "/then-busy":
        time.sleep(1.0)  # work after the response in the same tick (a middleware's span and metrics, say)


def test_a_response_arrives_in_one_segment_and_streams_still_stream() -> None:
    with ThreadServer(_app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert first.endswith(b"\r\n\r\nhello")  # head and body in one segment
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        received = b""
        while b"chunk0;" not in received:
            received += sock.recv(65536)
        assert b"chunk1;" not in received  # the first chunk left in its own tick, 50 ms before the next
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
        assert b"chunk1;" in received
        assert b"chunk2;" in received


def test_a_complete_response_leaves_before_the_app_finishes_its_tick() -> None:
    with ThreadServer(_app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sent = time.monotonic()
        sock.sendall(b"GET /then-busy HTTP/1.1\r\nhost: t\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.endswith(b"\r\n\r\nhello")  # still one segment
        assert time.monotonic() - sent < 0.8, "the response waited for the end of the tick"
