"""Per-minute limits, model resolution (aliases, tenant allow-lists, the local provider) and API errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from ai_support import Caller, new_caller, usage_rows
from portal_core.testing import ThreadServer

CHAT = "/api/ai/v1/chat/completions"


def body(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def limited_service(make_service: Callable[..., ThreadServer]) -> Any:
    with make_service(USER_REQUESTS_PER_MINUTE="2", TENANT_REQUESTS_PER_MINUTE="3", USER_TOKENS_PER_MINUTE="30") as s:
        yield s.url


async def test_requests_per_minute_per_user_and_per_tenant(limited_service: str) -> None:
    first = new_caller()
    colleague = first.colleague()
    async with httpx.AsyncClient(base_url=limited_service) as client:
        for _ in range(2):
            assert (await client.post(CHAT, json=body("local/echo"), headers=first.headers)).status_code == 200
        refused = await client.post(CHAT, json=body("local/echo"), headers=first.headers)
        assert refused.status_code == 429
        assert 29 <= int(refused.headers["retry-after"]) <= 30  # 2 per minute: one back every 30 s
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert "user requests" in refused.json()["error"]["message"]
        assert (await client.post(CHAT, json=body("local/echo"), headers=colleague.headers)).status_code == 200
        refused = await client.post(CHAT, json=body("local/echo"), headers=colleague.headers)
        assert refused.status_code == 429
        assert "tenant requests" in refused.json()["error"]["message"]


async def test_tokens_per_minute_per_user(limited_service: str, db: Any) -> None:
    caller = new_caller()
    long_prompt = {"model": "local/echo", "messages": [{"role": "user", "content": "word " * 40}]}
    async with httpx.AsyncClient(base_url=limited_service, headers=caller.headers) as client:
        assert (await client.post(CHAT, json=long_prompt)).status_code == 200  # 40 in + 41 out: over 30
        await usage_rows(db, caller.tenant_id)
        await asyncio.sleep(0.1)  # the tokens are counted in Redis right after the ledger row
        refused = await client.post(CHAT, json=long_prompt)
    assert refused.status_code == 429
    assert "user tokens" in refused.json()["error"]["message"]
    # 81 tokens against 30 per minute: in debt by 51, which drains in 102 s at 2 s per token.
    assert 100 <= int(refused.headers["retry-after"]) <= 102


async def test_models_lists_configured_models_and_aliases(service: str, caller: Caller) -> None:
    client = openai.AsyncOpenAI(base_url=f"{service}/api/ai/v1", api_key="x", default_headers=caller.headers)
    ids = sorted([model.id async for model in client.models.list()])
    assert ids == ["anthropic/claude-backup", "fast", "local/echo", "openai/gpt-primary", "smart"]


async def test_aliases_resolve_and_bare_names_go_by_family(service: str, fakes: Any, caller: Caller) -> None:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        fast = (await client.post(CHAT, json=body("fast"))).json()
        bare = (await client.post(CHAT, json=body("claude-bare"))).json()
    assert fast["model"] == "gemini/gemini-flash"
    assert fakes.gemini.requests[0]["path"].endswith("gemini-flash:generateContent")
    assert bare["model"] == "anthropic/claude-bare"


async def test_local_provider_only_when_asked_by_name(service: str, fakes: Any, caller: Caller) -> None:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        unknown = await client.post(CHAT, json=body("mystery-model"))
        local = await client.post(CHAT, json=body("local/echo"))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert local.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert all(not fake.requests for fake in fakes.all())


async def test_keyless_gateway_serves_everything_from_local(make_service: Callable[..., ThreadServer]) -> None:
    keyless = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "GEMINI_API_KEY": ""}
    with make_service(**keyless) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=new_caller().headers) as client:
            bare = await client.post(CHAT, json=body("gpt-4o"))
            named = await client.post(CHAT, json=body("openai/gpt-4o"))
    assert bare.json()["model"] == "local/gpt-4o"
    assert named.status_code == 404, "an absent provider is absent, not silently replaced"


async def test_tenant_limited_to_a_set_of_models(service: str, fakes: Any, caller: Caller) -> None:
    admin = caller.colleague("admin")
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        policy = {"allowed_models": ["fast", "openai/gpt-primary"]}
        assert (await client.put("/api/ai/v1/policy", json=policy, headers=admin.headers)).status_code == 200
        assert (await client.post(CHAT, json=body("fast"))).status_code == 200
        refused = await client.post(CHAT, json=body("anthropic/claude-x"))
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"
        fakes.openai.fail_next(500, times=3)
        # Fallbacks the tenant may not use are skipped: the primary's failure is the answer.
        failed = await client.post(CHAT, json=body("openai/gpt-primary"), timeout=30)
    assert failed.status_code == 502
    assert not fakes.anthropic.requests


@pytest.mark.parametrize(
    ("path", "payload", "shape"),
    [
        (CHAT, {"model": "x"}, "openai"),
        (CHAT, {"model": "local/echo", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "openai"),
        (CHAT, {"model": "local/echo", "messages": [], "temperature": 9}, "openai"),
        ("/api/ai/v1/messages", {"model": "local/echo", "messages": []}, "anthropic"),
        (
            "/api/ai/v1/messages",
            {"model": "x", "max_tokens": 1, "messages": [{"role": "bot", "content": "x"}]},
            "anthropic",
        ),
    ],
)
async def test_bad_requests_get_400_in_the_api_shape(
    service: str, caller: Caller, path: str, payload: dict[str, Any], shape: str
) -> None:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        response = await client.post(path, json=payload)
    assert response.status_code == 400
    if shape == "openai":
        assert response.json()["error"]["type"] == "invalid_request_error"
    else:
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "invalid_request_error"


async def test_malformed_json_and_missing_assertion(service: str) -> None:
    async with httpx.AsyncClient(base_url=service) as client:
        anonymous = await client.post(CHAT, json=body("local/echo"))
        garbage = await client.post(
            "/api/ai/v1/messages",
            content=b"{nope",
            headers={**new_caller().headers, "content-type": "application/json"},
        )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    assert garbage.status_code == 400
    assert garbage.json()["error"]["type"] == "invalid_request_error"
