"""Bodies stream through the gateway both ways, and the body limit holds for declared and chunked sizes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx


async def test_sse_events_arrive_as_they_are_produced(gateway: str, upstream: Any) -> None:
    upstream.log.sse_produced.clear()
    received: list[float] = []
    async with (
        httpx.AsyncClient(base_url=gateway, timeout=10) as client,
        client.stream("GET", "/api/echo/v1/sse", headers={"Accept": "text/event-stream"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = []
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                received.append(time.monotonic())
                events.append(line.removeprefix("data: "))
    assert events == ["event 0", "event 1", "event 2"]
    last_produced = upstream.log.sse_produced[-1]
    assert received[0] < last_produced  # the first event was in the client's hands before the last existed


async def test_large_upload_streams_without_buffering(gateway: str, upstream: Any) -> None:
    request_id = uuid.uuid4().hex
    chunk, count = b"x" * (512 * 1024), 100  # 50 MiB
    finished_sending: list[float] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield chunk
            await asyncio.sleep(0)
        finished_sending.append(time.monotonic())

    async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
        r = await client.post("/api/echo/v1/upload", content=body(), headers={"X-Request-Id": request_id})
    assert r.status_code == 200
    assert r.json() == {"received": len(chunk) * count}
    # The service had bytes while the client was still producing them: nothing waited for the whole body.
    assert upstream.log.upload_first_chunk[request_id] < finished_sending[0]


async def test_declared_body_over_limit_is_413(strict_gateway: str, client_ip: str, upstream: Any) -> None:
    request_id = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=strict_gateway, timeout=10) as client:
        r = await client.post(
            "/api/echo/v1/upload",
            content=b"y" * (1024 * 1024 + 1),
            headers={"X-Request-Id": request_id, "X-Forwarded-For": client_ip},
        )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "payload_too_large"
    assert request_id not in upstream.log.upload_first_chunk  # refused before the service saw anything


async def test_chunked_body_growing_past_limit_is_413_and_aborted(
    strict_gateway: str, client_ip: str, upstream: Any
) -> None:
    request_id = uuid.uuid4().hex

    async def body() -> AsyncIterator[bytes]:
        for _ in range(24):  # 1.5 MiB in 64 KiB chunks, no Content-Length
            yield b"z" * (64 * 1024)

    async with httpx.AsyncClient(base_url=strict_gateway, timeout=10) as client:
        r = await client.post(
            "/api/echo/v1/upload", content=body(), headers={"X-Request-Id": request_id, "X-Forwarded-For": client_ip}
        )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    await asyncio.sleep(0.2)
    assert request_id in upstream.log.upload_first_chunk  # it was streaming...
    assert request_id not in upstream.log.upload_completed  # ...and the upstream request was cut off
