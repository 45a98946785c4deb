"""The house HTTP/1.1 client: keep-alive connections per upstream, httptools parsing, streamed bodies.

Used by the gateway's proxy and, under the provider SDKs (as their httpx2 transport), by the AI gateway.
Why not aiohttp (used before): relaying is most of what the gateway does, and aiohttp's request and
response machinery (URL objects, header multidicts, timers, traces, stream readers) was the largest
part of the gateway's CPU per request (docs/performance.md has the figures). A proxy needs far less:
it relays the client's bytes, so it writes one prebuilt head and hands the answer's raw headers and
body chunks on. This client does that on asyncio's Protocol API and httptools (llhttp, the parser
under uvicorn too). It speaks only plain HTTP/1.1 exchanges: no redirects, cookies, environment
proxies or decompression (a proxy relays bodies as the service encoded them; httpx2 above the AI
gateway's transport does the rest).
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

RawHeaders = list[tuple[bytes, bytes]]

# The most body one connection buffers before it stops reading from the upstream (backpressure).
_HIGH_WATER_BYTES = 256 * 1024
# Idle connections kept per upstream; more are closed as they come back (a burst's leftovers).
_MAX_IDLE_PER_ORIGIN = 256


class UpstreamError(Exception):
    """The upstream did not give a whole answer: refused, reset, closed early, or not HTTP."""


class UpstreamTimeout(UpstreamError):
    """Nothing arrived from the upstream within the read timeout (or no connection within the connect one)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one upstream listens, from its base URL; `prefix` is the URL's path, put before every request's."""

    host: str
    port: int
    tls: bool
    host_header: bytes
    prefix: bytes

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        return cls(parts.hostname, port, tls, parts.netloc.encode("idna"), parts.path.rstrip("/").encode())


class UpstreamResponse:
    """One answer: status and raw headers now, the body as it arrives. Call `release()` when done."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self.status = connection.status
        self.headers = connection.headers
        self.content_length = connection.content_length

    async def read(self) -> bytes:
        """The whole body (for answers known to be small)."""
        parts = []
        while (chunk := await self._connection.next_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._connection.next_chunk()) is not None:
            yield chunk

    def release(self) -> None:
        """Back to the pool if the answer was read whole and the connection may be kept, else closed."""
        self._connection.finish()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time."""

    def __init__(self, pool: UpstreamPool, origin: Origin) -> None:
        self._pool = pool
        self.origin = origin
        self._loop = pool.loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._reset_message()
        self._reusable = False
        self._paused_reading = False
        self._write_paused: asyncio.Future[None] | None = None

    def _reset_message(self) -> None:
        self.status = 0
        self.headers: RawHeaders = []
        self.content_length: int | None = None
        self._until_close = False  # neither a length nor chunked: the body ends when the connection does
        self._head: asyncio.Future[None] | None = None
        self._body: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._received_any = False
        self._failure: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._no_body = False  # a HEAD request's answer has headers only
        self._body_unsent = False

    # ---- the request side (called by the pool's user) ----

    def start(self, head: bytes, *, expect_no_body: bool) -> None:
        assert self._transport is not None
        self._reset_message()
        self._no_body = expect_no_body
        self._head = self._loop.create_future()
        self._transport.write(head)

    async def send_body(self, chunks: AsyncIterator[bytes], *, chunked: bool) -> None:
        """Write the body, unless the upstream answers first (a 413, a 401): then stop sending.

        The read timeout starts once the body is sent: an upload may take longer than an answer may.
        """
        assert self._head is not None
        writer = asyncio.ensure_future(self._write_body(chunks, chunked=chunked))
        try:
            await asyncio.wait((writer, self._head), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not writer.done():
                writer.cancel()
                self._body_unsent = True  # the connection is out of step: never reused
                await asyncio.gather(writer, return_exceptions=True)
        if writer.cancelled():
            return  # the upstream answered first
        failure = writer.exception()
        if failure is not None and not isinstance(failure, UpstreamError):
            raise failure  # the client's body failed (gone, or over the limit); an UpstreamError the head reports

    async def _write_body(self, chunks: AsyncIterator[bytes], *, chunked: bool) -> None:
        transport = self._transport
        assert transport is not None
        async for chunk in chunks:
            if not chunk:
                continue  # an empty chunk would end a chunked body
            if self.closed:
                raise UpstreamError("the upstream closed the connection during the request body")
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            if self._write_paused is not None:
                await self._write_paused
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def response_head(self) -> None:
        assert self._head is not None
        if not self._head.done():
            timer = self._loop.call_later(self._pool.read_timeout, self._time_out)
            try:
                await self._head
            finally:
                timer.cancel()
        self._head.result()  # raises the failure, if that is how it ended

    @property
    def received_any(self) -> bool:
        return self._received_any

    async def next_chunk(self) -> bytes | None:
        """The next piece of body, None at its end; UpstreamError if the connection fails first."""
        while not self._body:
            if self._complete:
                return None
            if self._failure is not None:
                raise self._failure
            self._waiter = self._loop.create_future()
            timer = self._loop.call_later(self._pool.read_timeout, self._time_out)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
        chunk = b"".join(self._body) if len(self._body) > 1 else self._body[0]
        self._body.clear()
        self._buffered = 0
        if self._paused_reading and self._transport is not None:
            self._paused_reading = False
            self._transport.resume_reading()
        return chunk

    def finish(self) -> None:
        if self._complete and self._reusable and not self._body_unsent and not self.closed:
            self._pool.put_back(self)
        else:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                self._transport.close()
        self._pool.forget(self)

    def abort(self) -> None:
        """Drop the connection now, unsent data and all (the client went away or sent too much)."""
        if self._transport is not None:
            self._transport.abort()
        self.closed = True
        self._pool.forget(self)

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._broken(UpstreamError("the upstream switched protocols on a plain request"))
        except httptools.HttpParserError as exc:
            self._broken(UpstreamError(f"the upstream's answer is not valid HTTP/1.1: {exc}"))

    def eof_received(self) -> bool:
        self._ended()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended()
        self._pool.forget(self)
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)
        self._write_paused = None

    # ---- httptools callbacks ----

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and friends: not the answer, which follows
            self.headers = []
            return
        self.status = status
        chunked = False
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit():
                self.content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
        if self._no_body:
            # httptools cannot know the request was HEAD and would wait for the announced body: the
            # answer is complete now, and the connection is closed after it rather than kept.
            self._complete = True
            self._reusable = False
        else:
            self._until_close = self.content_length is None and not chunked and status not in (204, 304)
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._no_body:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER_BYTES and not self._paused_reading and self._transport is not None:
            self._paused_reading = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:  # the end of an informational (1xx) answer
            return
        if not self._no_body:
            self._complete = True
            self._reusable = self._parser.should_keep_alive()
        self._wake()

    # ---- endings ----

    def _ended(self) -> None:
        if self._until_close and self.status and not self._complete:
            self._complete = True  # the body that runs to the connection's close is whole
            self._reusable = False
            self._wake()
        elif not self._complete:
            self._fail(UpstreamError("the upstream closed the connection before the answer was complete"))

    def _time_out(self) -> None:
        self._broken(UpstreamTimeout("the upstream did not answer in time"))

    def _broken(self, failure: UpstreamError) -> None:
        """Fail the exchange and drop the connection: it is in no state to carry another request."""
        self._fail(failure)
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, failure: UpstreamError) -> None:
        if self._failure is None:
            self._failure = failure
        self._reusable = False
        if self._head is not None and not self._head.done():
            self._head.set_exception(failure)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class UpstreamPool:
    """Keep-alive connections to every upstream, reused most-recent first."""

    def __init__(
        self, *, connect_timeout: float, read_timeout: float, tls: ssl_module.SSLContext | None = None
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout  # for each wait: the answer's head, then each piece of its body
        self._idle: dict[Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        # https upstreams: the system's trust store (SSL_CERT_FILE names an internal CA), hostnames checked.
        self._tls = tls or ssl_module.create_default_context()

    async def request(
        self,
        origin: Origin,
        head: bytes,
        body: AsyncIterator[bytes] | None = None,
        *,
        chunked: bool = False,
        expect_no_body: bool = False,
        replayable: bool = False,
    ) -> UpstreamResponse:
        """Send `head` (the request line and headers, ending in a blank line) and `body`; the answer's head.

        A `replayable` request (no body to stream, and safe to repeat) that fails on a reused connection
        before any answer arrived is sent once more on a new one: the upstream closed that idle connection
        as it was picked. Others are not repeated: the upstream may have acted on them.
        """
        connection, reused = await self._connection(origin)
        try:
            await self._exchange(connection, head, body, chunked, expect_no_body)
        except UpstreamError as exc:
            connection.abort()
            if isinstance(exc, UpstreamTimeout) or not (reused and replayable and not connection.received_any):
                raise
            connection, _ = await self._connection(origin, fresh=True)
            try:
                await self._exchange(connection, head, None, False, expect_no_body)
            except BaseException:
                connection.abort()
                raise
        except BaseException:
            connection.abort()
            raise
        return UpstreamResponse(connection)

    async def fetch(
        self, origin: Origin, method: bytes, target: bytes, headers: RawHeaders, body: bytes = b""
    ) -> tuple[int, bytes]:
        """One small exchange of the gateway's own (not a relayed one), safe to repeat: status and body."""
        lines = [b"%b %b%b HTTP/1.1\r\nhost: %b" % (method, origin.prefix, target, origin.host_header)]
        lines.extend(name + b": " + value for name, value in headers)
        lines.append(b"content-length: %d\r\n\r\n" % len(body))
        response = await self.request(origin, b"\r\n".join(lines) + body, replayable=True)
        try:
            return response.status, await response.read()
        finally:
            response.release()

    async def _exchange(
        self,
        connection: _Connection,
        head: bytes,
        body: AsyncIterator[bytes] | None,
        chunked: bool,
        expect_no_body: bool,
    ) -> None:
        connection.start(head, expect_no_body=expect_no_body)
        if body is not None:
            await connection.send_body(body, chunked=chunked)
        await connection.response_head()

    async def _connection(self, origin: Origin, *, fresh: bool = False) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin)
        while idle and not fresh:
            connection = idle.pop()
            if not connection.closed:
                self._busy.add(connection)
                return connection, True
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self, origin),
                    origin.host,
                    origin.port,
                    ssl=self._tls if origin.tls else None,
                    server_hostname=origin.host if origin.tls else None,
                )
        except TimeoutError:
            raise UpstreamTimeout(f"no connection to {origin.host}:{origin.port} in time") from None
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {origin.host}:{origin.port}: {exc.strerror or exc}") from None
        self._busy.add(connection)
        return connection, False

    def put_back(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= _MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)  # closed while idle (the upstream's keep-alive timeout): rare

    async def close(self) -> None:
        connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            connection.close()
        await asyncio.sleep(0)  # let the transports close
