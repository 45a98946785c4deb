"""uvicorn's httptools protocol, sending what a response writes within one event-loop tick at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _TickBufferedTransport:
    """A transport whose writes within one event-loop tick leave as one send, like TCP_CORK until the tick ends.

    uvicorn writes a response's head as soon as the app sends `http.response.start`, and its body on
    the next message: two sends, two TCP segments, two wake-ups of the client, for an answer the app
    produced in one go. Held to the end of the tick they leave together; a stream's later chunks are
    delayed by one tick at most. A response that is complete leaves at once (`flush`), without waiting for
    what the app does after sending it (the observability middleware's span and metrics). Everything else
    goes straight to the real transport.
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `_TickBufferedTransport`: one send per response that fits a tick.

    Measured on the gateway at saturation (bench/gateway_bench.py): one send syscall fewer per request.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._buffered = _TickBufferedTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        super().connection_made(self._buffered)  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self._buffered.flush()  # the whole response is written: the client need not wait for the tick's end
        super().on_response_complete()
