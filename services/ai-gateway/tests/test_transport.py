"""The SDKs' transport (providers/transport.py) under httpx2, against raw HTTP/1.1 servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx2
import pytest
from ai_gateway.providers.transport import HouseTransport, NotAdmitted, admission_gate, provider_http_client
from portal_core.testing import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    listening = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listening.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The request's head and its body (by content-length, or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        body = b""
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size + 2)
            body = body[:-2]
        await reader.readline()
        return head, body
    lengths = [int(line.split(b":")[1]) for line in lowered.split(b"\r\n") if line.startswith(b"content-length")]
    length = lengths[0] if lengths else 0
    return head, await reader.readexactly(length)


def client(base_url: str, read_timeout: float = 5.0) -> httpx2.AsyncClient:
    transport = HouseTransport(connect_timeout=2.0, read_timeout=read_timeout)
    return httpx2.AsyncClient(base_url=base_url, transport=transport)


async def test_a_json_call_goes_whole_and_its_gzip_answer_is_decoded() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # two calls on one kept-alive connection
            seen.append(await read_request(reader))
            body = gzip.compress(b'{"ok": true}')
            head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body)
            writer.write(head + body)
            await writer.drain()
        writer.close()

    async with server(answer) as url, client(url) as http:
        for n in range(2):
            response = await http.post("/v1/chat?x=1", json={"n": n}, headers={"authorization": "Bearer k"})
            assert response.status_code == 200
            assert response.json() == {"ok": True}
    assert len(seen) == 2
    head, body = seen[1]
    assert head.startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\n")
    assert b"authorization: Bearer k" in head
    assert b"host: 127.0.0.1" in head.lower()
    assert body == b'{"n":1}'


async def test_a_streamed_request_body_goes_chunked_and_a_streamed_answer_arrives_piece_by_piece() -> None:
    received: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await read_request(reader)
        received.append(body)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n")
        for event in (b"data: one\n\n", b"data: two\n\n"):
            writer.write(b"%x\r\n%b\r\n" % (len(event), event))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def upload() -> AsyncIterator[bytes]:
        yield b"part one, "
        yield b"part two"

    async with server(answer) as url, client(url) as http, http.stream("POST", "/up", content=upload()) as response:
        pieces = [piece async for piece in response.aiter_bytes()]
    assert received == [b"part one, part two"]
    assert pieces == [b"data: one\n\n", b"data: two\n\n"]


async def test_failures_are_httpx2_transport_errors_the_sdks_understand() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(2)

    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        writer.close()

    async with client(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(httpx2.ReadError, match="cannot connect"):
            await http.get("/")
    async with server(silent) as url, client(url, read_timeout=0.2) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get("/")
    async with server(hangs_up) as url, client(url) as http:
        with pytest.raises(httpx2.ReadError, match="before the answer was complete"):
            await http.get("/")


async def test_nothing_is_sent_before_admission_and_nothing_at_all_when_it_fails() -> None:
    arrived: list[float] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.append(asyncio.get_running_loop().time())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    loop = asyncio.get_running_loop()
    async with server(answer) as url, client(url) as http:
        admission: asyncio.Future[None] = loop.create_future()
        with admission_gate(admission):
            call = asyncio.ensure_future(http.post("/", json={}))
        await asyncio.sleep(0.1)
        assert arrived == [], "held until admitted"
        admitted_at = loop.time()
        admission.set_result(None)
        assert (await call).text == "ok"
        assert arrived[0] >= admitted_at

        refused: asyncio.Future[None] = loop.create_future()
        refused.set_exception(RuntimeError("rate limited"))
        with admission_gate(refused), pytest.raises(NotAdmitted):
            await http.post("/", json={})
        await asyncio.sleep(0.05)
        assert len(arrived) == 1, "a refused call sends nothing"


def test_a_proxy_named_by_the_environment_gets_httpx2s_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def transport_of(url: str) -> object:
        http, _ = provider_http_client(url, connect_timeout=1, read_timeout=1)
        return http._transport  # which transport httpx2 was given is the point

    assert isinstance(transport_of("https://api.openai.com/v1"), HouseTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert not isinstance(transport_of("https://api.openai.com/v1"), HouseTransport)
    assert isinstance(transport_of("http://127.0.0.1:9000/v1"), HouseTransport)  # an http URL: no https proxy
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert isinstance(transport_of("https://api.openai.com/v1"), HouseTransport)
