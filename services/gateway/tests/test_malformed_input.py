"""Whatever a client sends, the answer is never a 5xx: bad input is the client's problem, said in problem+json."""

from __future__ import annotations

import asyncio

import pytest

MALFORMED = [
    b"GET /api/echo/%ZZ%00/..%2F..%2Fetc HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/echo/v1/things?a=%ZZ&b=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/echo/v1/things HTTP/1.1\r\nHost: x\r\nX-Thing: caf\xe9\r\n\r\n",
    b"GET /api/echo/v1/things HTTP/1.1\r\nHost: x\r\ntraceparent: 00-zzzz-yyyy-01\r\nX-Request-Id: ../../\xff\r\n\r\n",
    b"POST /api/echo/v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/echo/v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /api/echo/v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"BREW /api/echo/v1/things HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS /api/echo/v1/things HTTP/1.1\r\nHost: x\r\nOrigin: \xff\r\nAccess-Control-Request-Method: \r\n\r\n",
    b"GET /api/ HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api//v1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/docs/../echo HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 60000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello to a plain port\r\n\r\n",
]


async def status_of(base: str, raw: bytes) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(raw.replace(b"Host: x", b"Host: " + host.encode() + b"\r\nConnection: close"))
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    if not data:
        return 0, b""  # the server hung up: a refusal, not a failure
    head, _, _body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.lower()


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_request_is_never_a_5xx(gateway: str, raw: bytes) -> None:
    status, head = await status_of(gateway, raw)
    assert status < 500
    if status >= 400 and b"x-request-id" in head:  # answered by the gateway, not refused by the HTTP parser
        assert b"application/problem+json" in head


async def test_garbage_forwarded_for_from_trusted_proxy(strict_gateway: str) -> None:
    raw = b"GET /api/echo/v1/things HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: not-an-ip, , 999.1.1.1\r\n\r\n"
    status, _ = await status_of(strict_gateway, raw)
    assert status == 200
