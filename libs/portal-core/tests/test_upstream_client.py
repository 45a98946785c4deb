"""The proxy's HTTP/1.1 client against scripted upstreams on loopback: framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from portal_core.upstream import Origin, UpstreamError, UpstreamPool, UpstreamTimeout

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Scripted:
    """A raw TCP upstream: each connection runs `handler`; counts connections and keeps what was read."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def upstream(handler: Handler) -> AsyncIterator[tuple[Scripted, Origin]]:
    scripted = Scripted(handler)
    server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield scripted, Origin.parse(f"http://127.0.0.1:{port}")
    finally:
        server.close()


@asynccontextmanager
async def pool(read_timeout: float = 2.0) -> AsyncIterator[UpstreamPool]:
    upstreams = UpstreamPool(connect_timeout=1.0, read_timeout=read_timeout)
    try:
        yield upstreams
    finally:
        await upstreams.close()


def get(path: str = "/", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answer(body: bytes, *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"content-length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head = await read_head(reader)
        writer.write(answer(head.split(b" ")[1]))


async def exchange(upstreams: UpstreamPool, origin: Origin, head: bytes, **kwargs: object) -> tuple[int, bytes]:
    response = await upstreams.request(origin, head, **kwargs)  # type: ignore[arg-type]
    try:
        return response.status, await response.read()
    finally:
        response.release()


async def test_keep_alive_connection_is_reused() -> None:
    async with upstream(keep_answering) as (server, origin), pool() as upstreams:
        for n in range(5):
            assert await exchange(upstreams, origin, get(f"/n/{n}")) == (200, f"/n/{n}".encode())
    assert server.connections == 1


async def test_an_answer_not_read_whole_does_not_go_back_to_the_pool() -> None:
    async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf.")
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(b"rest.")

    async with upstream(slow_body) as (server, origin), pool() as upstreams:
        response = await upstreams.request(origin, get("/a"))
        response.release()  # the rest of the body is still coming: the connection is out of step
        assert await exchange(upstreams, origin, get("/b")) == (200, b"half.rest.")
        assert await exchange(upstreams, origin, get("/c")) == (200, b"half.rest.")  # read whole: kept
    assert server.connections == 2


async def test_connection_closed_while_idle_is_replaced_for_a_replayable_request() -> None:
    async def answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(answer(b"first"))
        await writer.drain()
        await read_head(reader)  # the next request arrives on this connection, which then closes unanswered

    async with upstream(answer_once_then_close) as (server, origin), pool() as upstreams:
        assert await exchange(upstreams, origin, get()) == (200, b"first")
        assert await exchange(upstreams, origin, get(), replayable=True) == (200, b"first")
        assert server.connections == 2
        with pytest.raises(UpstreamError, match="closed the connection"):
            await exchange(upstreams, origin, get(method="POST"))  # not replayable: the upstream may have acted


async def test_chunked_and_until_close_bodies() -> None:
    async def chunked_then_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        await writer.drain()

    async with upstream(chunked_then_until_close) as (server, origin), pool() as upstreams:
        assert await exchange(upstreams, origin, get()) == (200, b"hello world")
        assert await exchange(upstreams, origin, get()) == (200, b"until the end")
    assert server.connections == 1


async def test_head_204_and_informational_answers() -> None:
    async def various(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        if head.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            await reader.read()  # the client must not wait for the 1000 bytes: it closes instead
            return
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n")
        await read_head(reader)
        writer.write(answer(b"after"))
        await reader.read()

    async with upstream(various) as (server, origin), pool() as upstreams:
        response = await upstreams.request(origin, get(method="HEAD"), expect_no_body=True)
        assert (response.status, response.content_length, await response.read()) == (200, 1000, b"")
        response.release()
        response = await upstreams.request(origin, get())
        assert (response.status, response.headers, await response.read()) == (204, [(b"x-a", b"1")], b"")
        response.release()
        assert await exchange(upstreams, origin, get()) == (200, b"after")
    assert server.connections == 2  # the HEAD's connection was closed, the 204's kept


async def test_request_body_framing_and_early_answer() -> None:
    async def read_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_head(reader)
            if b"/early" in head:
                writer.write(b"HTTP/1.1 413 Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                await writer.drain()
                await asyncio.sleep(5)  # reading nothing more: the client must stop sending by itself
                return
            if b"transfer-encoding: chunked" in head:
                body = b""
                while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) != 0:
                    body += (await reader.readexactly(size + 2))[:-2]
                await reader.readexactly(2)
            else:
                body = await reader.readexactly(int(head.split(b"content-length: ")[1].split(b"\r\n")[0]))
            writer.write(answer(body))

    async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    async with upstream(read_body) as (_, origin), pool() as upstreams:
        chunked = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        sent = await exchange(upstreams, origin, chunked, body=pieces(b"ab", b"", b"cd" * 5000), chunked=True)
        assert sent == (200, b"ab" + b"cd" * 5000)
        sized = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 6\r\n\r\n"
        assert await exchange(upstreams, origin, sized, body=pieces(b"abc", b"def")) == (200, b"abcdef")
        early = b"POST /early HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        status, _ = await asyncio.wait_for(exchange(upstreams, origin, early, body=endless(), chunked=True), timeout=3)
        assert status == 413  # answered while the body was still coming: sending stopped


async def test_failures_are_upstream_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await asyncio.sleep(5)

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()

    async with pool(read_timeout=0.3) as upstreams:
        async with upstream(garbage) as (_, origin):
            with pytest.raises(UpstreamError, match="not valid HTTP"):
                await exchange(upstreams, origin, get())
        async with upstream(silent) as (_, origin):
            with pytest.raises(UpstreamTimeout):
                await exchange(upstreams, origin, get())
        async with upstream(cut) as (_, origin):
            with pytest.raises(UpstreamError, match="before the answer was complete"):
                await exchange(upstreams, origin, get())
        with pytest.raises(UpstreamError, match="cannot connect"):
            await exchange(upstreams, origin, get())  # that upstream has gone


async def test_large_body_streams_with_backpressure() -> None:
    size = 8 * 1024 * 1024

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
        for _ in range(size // 65536):
            writer.write(b"y" * 65536)
            await writer.drain()
        await reader.read()

    async with upstream(large) as (_, origin), pool() as upstreams:
        response = await upstreams.request(origin, get())
        received, largest = 0, 0
        async for chunk in response.chunks():
            received += len(chunk)
            largest = max(largest, len(chunk))
            await asyncio.sleep(0.001)  # a slow client: the upstream must wait, not pile up in memory
        response.release()
    assert received == size
    assert largest <= 1024 * 1024  # what one read hands on stays near the high-water mark, not the body


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_upstream_is_verified(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    scripted = Scripted(keep_answering)
    server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0, ssl=server_tls)
    origin = Origin.parse(f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        trusting = UpstreamPool(connect_timeout=2, read_timeout=2, tls=ssl.create_default_context(cafile=cert))
        try:
            assert await exchange(trusting, origin, get("/secure")) == (200, b"/secure")
        finally:
            await trusting.close()
        system_trust = UpstreamPool(connect_timeout=2, read_timeout=2)  # does not know this certificate
        try:
            with pytest.raises(UpstreamError, match="cannot connect"):
                await exchange(system_trust, origin, get("/secure"))
        finally:
            await system_trust.close()
    finally:
        server.close()
