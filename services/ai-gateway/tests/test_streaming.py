"""Streams: a client that goes away ends the upstream stream, and the call is still recorded once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ai_support import Caller, usage_rows

MODELS = {"openai": "openai/gpt-4o", "anthropic": "anthropic/claude-x", "gemini": "gemini/gemini-x"}


async def read_some_then_leave(service: str, caller: Caller, path: str, body: dict[str, Any], lines: int) -> list[str]:
    seen: list[str] = []
    async with (
        httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client,
        client.stream("POST", path, json=body) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line:
                seen.append(line)
            if len(seen) >= lines:
                break  # leaving the block closes the connection mid-stream
    return seen


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_client_disconnect_ends_the_upstream_stream(
    service: str, fakes: Any, caller: Caller, db: Any, provider: str
) -> None:
    fake = fakes.by_name(provider)
    fake.slow_stream = True  # ~8 s of tokens unless someone hangs up
    body = {"model": MODELS[provider], "messages": [{"role": "user", "content": "talk"}], "stream": True}

    seen = await read_some_then_leave(service, caller, "/api/ai/v1/chat/completions", body, lines=5)

    assert all(line.startswith("data: {") for line in seen)
    assert await asyncio.to_thread(fake.stream_cut.wait, 5), "the provider saw its stream closed early"
    assert fake.streams_finished == 0
    [row] = await usage_rows(db, caller.tenant_id)
    assert row["outcome"] == "client_disconnected"
    assert row["output_tokens"] > 0, "a cut stream is still charged for what it used"
    assert row["input_tokens"] > 0


async def test_client_disconnect_on_the_anthropic_api(service: str, fakes: Any, caller: Caller, db: Any) -> None:
    fakes.openai.slow_stream = True
    body = {"model": "openai/gpt-4o", "max_tokens": 50, "messages": [{"role": "user", "content": "x"}], "stream": True}

    seen = await read_some_then_leave(service, caller, "/api/ai/v1/messages", body, lines=6)

    assert seen[0] == "event: message_start"
    assert await asyncio.to_thread(fakes.openai.stream_cut.wait, 5)
    [row] = await usage_rows(db, caller.tenant_id)
    assert (row["endpoint"], row["outcome"]) == ("messages", "client_disconnected")


async def test_stream_passes_chunk_by_chunk_and_ends_with_usage(service: str, fakes: Any, caller: Caller) -> None:
    body = {"model": "anthropic/claude-x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with (
        httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client,
        client.stream("POST", "/api/ai/v1/chat/completions", json=body) as response,
    ):
        frames = [line async for line in response.aiter_lines() if line]
    assert response.headers["content-type"].startswith("text/event-stream")
    contents = [f for f in frames if '"content":"' in f and '"content":""' not in f]
    assert len(contents) == 3, "each provider chunk is its own SSE frame"
    assert '"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18' in frames[-2]
    assert frames[-1] == "data: [DONE]"
