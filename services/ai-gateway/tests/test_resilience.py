"""Retries (honouring Retry-After), fallbacks to the next provider, and errors in the API's own shape."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from ai_support import Caller, usage_rows
from portal_core.testing import refusing_port

CHAT = "/api/ai/v1/chat/completions"


def chat_body(model: str, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "openai/gpt-4o"), ("anthropic", "anthropic/claude-x"), ("gemini", "gemini/gemini-x")],
)
async def test_429_then_success_is_retried_after_retry_after(
    service: str, fakes: Any, caller: Caller, provider: str, model: str
) -> None:
    fake = fakes.by_name(provider)
    fake.fail_next(429, retry_after="1")
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client:
        response = await client.post(CHAT, json=chat_body(model))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == f"Hello from {provider}"
    assert len(fake.requests) == 2
    assert time.monotonic() - started >= 1.0, "the gateway waited as long as Retry-After asked"


async def test_500_from_first_provider_falls_back_to_second(service: str, fakes: Any, caller: Caller, db: Any) -> None:
    fakes.openai.fail_next(500, times=3)  # every attempt at the primary fails
    async with httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client:
        response = await client.post(CHAT, json=chat_body("openai/gpt-primary"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "anthropic/claude-backup"
    assert body["choices"][0]["message"]["content"] == "Hello from anthropic"
    assert len(fakes.openai.requests) == 3
    assert len(fakes.anthropic.requests) == 1
    [row] = await usage_rows(db, caller.tenant_id)
    assert (row["model_requested"], row["model_used"], row["outcome"]) == (
        "openai/gpt-primary",
        "anthropic/claude-backup",
        "completed",
    )


async def test_streamed_call_falls_back_before_the_first_token(service: str, fakes: Any, caller: Caller) -> None:
    fakes.openai.fail_next(503, times=3)
    fakes.anthropic.fail_next(500, times=3)
    async with (
        httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client,
        client.stream("POST", CHAT, json=chat_body("openai/gpt-primary", stream=True)) as response,
    ):
        text = (await response.aread()).decode()
    assert response.status_code == 200
    assert '"model":"gemini/gemini-backup"' in text
    assert "Hello" in text
    assert text.endswith("data: [DONE]\n\n")


async def test_every_candidate_failing_is_an_openai_shaped_error(service: str, fakes: Any, caller: Caller) -> None:
    for fake in fakes.all():
        fake.fail_next(500, times=3)
    async with httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client:
        response = await client.post(CHAT, json=chat_body("openai/gpt-primary"))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert error["code"] == "upstream_failed"
    assert "gemini/gemini-backup" in error["message"]


async def test_a_request_the_provider_refuses_is_not_retried_and_is_anthropic_shaped(
    service: str, fakes: Any, caller: Caller
) -> None:
    fakes.anthropic.fail_next(400)
    body = {"model": "anthropic/claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client:
        response = await client.post("/api/ai/v1/messages", json=body)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(fakes.anthropic.requests) == 1


async def test_provider_429_beyond_the_wait_limit_surfaces_as_429_with_retry_after(
    service: str, fakes: Any, caller: Caller
) -> None:
    fakes.gemini.fail_next(429, times=1, retry_after="30")  # longer than RETRY_MAX_WAIT_SECONDS: no waiting
    async with httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client:
        response = await client.post(CHAT, json=chat_body("gemini/gemini-x"))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 30
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert len(fakes.gemini.requests) == 1


@pytest.fixture(scope="module")
def impatient_service(make_service: Any) -> Any:
    with make_service(PROVIDER_TIMEOUT_SECONDS="0.5", RETRY_ATTEMPTS="1") as server:
        yield server.url


async def test_a_provider_that_does_not_answer_in_time_is_a_504(
    impatient_service: str, fakes: Any, caller: Caller
) -> None:
    fakes.gemini.hang_seconds = 2
    async with httpx.AsyncClient(base_url=impatient_service, headers=caller.headers, timeout=30) as client:
        response = await client.post(CHAT, json=chat_body("gemini/gemini-x"))
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout"


async def test_a_timeout_falls_back_to_the_next_provider(impatient_service: str, fakes: Any, caller: Caller) -> None:
    fakes.openai.hang_seconds = 2
    async with httpx.AsyncClient(base_url=impatient_service, headers=caller.headers, timeout=30) as client:
        started = time.monotonic()
        response = await client.post(CHAT, json=chat_body("openai/gpt-primary"))
    assert response.status_code == 200
    assert response.json()["model"] == "anthropic/claude-backup"
    assert time.monotonic() - started < 1.9, "the gateway gave up on the hanging provider after its timeout"


async def test_a_stream_broken_mid_way_ends_with_an_error_event(
    service: str, fakes: Any, caller: Caller, db: Any
) -> None:
    fakes.anthropic.break_stream_after = 3
    body = {"model": "anthropic/claude-x", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    async with (
        httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client,
        client.stream("POST", "/api/ai/v1/messages", json={**body, "stream": True}) as response,
    ):
        lines = [line async for line in response.aiter_lines() if line]
    assert response.status_code == 200
    assert lines[0] == "event: message_start"
    assert lines[-2] == "event: error"
    assert '"type":"error"' in lines[-1]
    [row] = await usage_rows(db, caller.tenant_id)
    assert row["outcome"] == "failed"


@pytest.fixture(scope="module")
def unreachable_providers(make_service: Any) -> Any:
    fallbacks = {"gemini/g": ["openai/gpt-4o"], "anthropic/a": ["openai/gpt-4o"]}
    with refusing_port() as port:
        dead = f"http://127.0.0.1:{port}"
        with make_service(
            ANTHROPIC_BASE_URL=dead,
            GEMINI_BASE_URL=f"{dead}/",
            MODEL_FALLBACKS=json.dumps(fallbacks),
            RETRY_ATTEMPTS="2",
        ) as server:
            yield server.url


@pytest.mark.parametrize("model", ["gemini/g", "anthropic/a"])
async def test_connection_errors_are_retried_then_fall_back(
    unreachable_providers: str, fakes: Any, caller: Caller, model: str
) -> None:
    async with httpx.AsyncClient(base_url=unreachable_providers, headers=caller.headers, timeout=30) as client:
        response = await client.post(CHAT, json=chat_body(model))
        unknown = await client.post(CHAT, json=chat_body(model.replace("/", "/other-")))
    assert response.status_code == 200
    assert response.json()["model"] == "openai/gpt-4o"
    assert unknown.status_code == 502, "no fallback configured: the connection failure is the answer"
    assert unknown.json()["error"]["code"] == "upstream_failed"
