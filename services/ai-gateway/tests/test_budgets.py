"""Budgets: checked before a call, charged exactly once after it (streams included), then blocking."""

from __future__ import annotations

from typing import Any

import httpx
from ai_support import Caller, usage_rows

CHAT = "/api/ai/v1/chat/completions"


async def set_budget(service: str, admin: Caller, **budget: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service, headers=admin.headers) as client:
        response = await client.put("/api/ai/v1/budget", json=budget)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def read_budget(service: str, caller: Caller) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        response = await client.get("/api/ai/v1/budget")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_streamed_call_is_charged_once_and_the_spent_budget_blocks_the_next(
    service: str, caller: Caller, db: Any
) -> None:
    admin = caller.colleague("admin")
    await set_budget(service, admin, period="day", token_limit=18)  # one fake call uses 11 + 7 tokens
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient(base_url=service, headers=caller.headers, timeout=30) as client:
        async with client.stream("POST", CHAT, json=body) as response:
            frames = [line async for line in response.aiter_lines() if line]
        assert frames[-1] == "data: [DONE]"
        [row] = await usage_rows(db, caller.tenant_id)
        budget = await read_budget(service, caller)
        assert (budget["tokens_used"], budget["exhausted"]) == (18, True)
        assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["stream"]) == (11, 7, 3, True)

        blocked = await client.post(CHAT, json={**body, "stream": False})
        assert blocked.status_code == 429
        assert blocked.json()["error"]["code"] == "budget_exhausted"
        assert blocked.json()["error"]["type"] == "insufficient_quota"
        assert 0 < int(blocked.headers["retry-after"]) <= 86400

        anthropic_body = {"model": "openai/gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        blocked = await client.post("/api/ai/v1/messages", json=anthropic_body)
        assert blocked.status_code == 429
        assert blocked.json() == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "The tenant's day AI budget is spent"},
        }
    assert len(await usage_rows(db, caller.tenant_id)) == 1, "blocked calls reach no provider and cost nothing"
    assert (await read_budget(service, caller))["tokens_used"] == 18


async def test_cost_budget_charges_priced_models(service: str, caller: Caller, db: Any) -> None:
    # openai/gpt-priced: $2 in, $1 cached in, $10 out per million: (11-3)*2 + 3*1 + 7*10 = 89 micro-dollars a call.
    await set_budget(service, caller.colleague("admin"), period="month", cost_limit_usd=0.0001)
    body = {"model": "openai/gpt-priced", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        assert (await client.post(CHAT, json=body)).status_code == 200
        await usage_rows(db, caller.tenant_id, wait_for=1)  # recorded just after the answer; charged with the row
        budget = await read_budget(service, caller)
        assert (budget["cost_used_usd"], budget["exhausted"]) == (0.000089, False)
        assert (await client.post(CHAT, json=body)).status_code == 200
        await usage_rows(db, caller.tenant_id, wait_for=2)
        assert (await read_budget(service, caller))["cost_used_usd"] == 0.000178
        assert (await client.post(CHAT, json=body)).status_code == 429


async def test_only_tenant_admins_set_budgets_and_budgets_are_per_tenant(service: str, caller: Caller) -> None:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        refused = await client.put("/api/ai/v1/budget", json={"period": "day", "token_limit": 1})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await client.get("/api/ai/v1/budget")).status_code == 404
        bad = await client.put("/api/ai/v1/budget", json={"period": "fortnight"})
        assert bad.status_code == 400
        assert bad.json()["code"] == "validation_failed"
    await set_budget(service, caller.colleague("admin"), period="week", token_limit=5)
    other = caller.__class__("another-tenant-" + caller.tenant_id, "someone")
    async with httpx.AsyncClient(base_url=service, headers=other.headers) as client:
        assert (await client.get("/api/ai/v1/budget")).status_code == 404


async def test_recording_the_same_call_again_charges_nothing(service: str, caller: Caller, db: Any) -> None:
    from ai_gateway.usage.recorder import record_calls
    from ai_gateway.usage.schemas import UsageRecord
    from portal_core.ids import new_id

    await set_budget(service, caller.colleague("admin"), period="day", token_limit=1000)
    record = UsageRecord(
        id=str(new_id()),
        tenant_id=caller.tenant_id,
        user_id=caller.user_id,
        endpoint="chat.completions",
        stream=True,
        model_requested="m",
        model_used="openai/m",
        provider="openai",
        input_tokens=30,
        output_tokens=12,
        cached_tokens=0,
        cost_micros=0,
        latency_ms=5,
        first_token_ms=1,
        outcome="completed",
        error_code=None,
        trace_id=None,
    )
    assert [r.id for r in await record_calls(db, [record])] == [record.id]
    assert await record_calls(db, [record, record]) == []  # a retry of the same batch, duplicates within it
    assert (await read_budget(service, caller))["tokens_used"] == 42
    assert len(await usage_rows(db, caller.tenant_id)) == 1
