"""The usage ledger (per tenant, keyset pages) and the event every finished call publishes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import nats
from ai_support import Caller, new_caller, usage_rows
from nats.js.api import ConsumerConfig, DeliverPolicy
from portal_core.test_infra import nats_url

CHAT = "/api/ai/v1/chat/completions"
BODY = {"model": "anthropic/claude-x", "messages": [{"role": "user", "content": "secret prompt"}]}


async def test_tenant_b_cannot_read_tenant_a_usage(service: str, caller: Caller, db: Any) -> None:
    other = new_caller()
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as a:
        assert (await a.post(CHAT, json=BODY)).status_code == 200
        await usage_rows(db, caller.tenant_id)
        mine = (await a.get("/api/ai/v1/usage")).json()
    async with httpx.AsyncClient(base_url=service, headers=other.headers) as b:
        theirs = (await b.get("/api/ai/v1/usage")).json()
    assert theirs == {"items": [], "next_cursor": None}
    [item] = mine["items"]
    assert (item["user_id"], item["model_requested"], item["model_used"]) == (
        caller.user_id,
        "anthropic/claude-x",
        "anthropic/claude-x",
    )
    assert (item["input_tokens"], item["output_tokens"], item["cached_tokens"], item["outcome"]) == (
        11,
        7,
        3,
        "completed",
    )
    assert item["trace_id"]
    assert item["latency_ms"] >= 0


async def test_usage_pages_with_an_opaque_cursor_and_refuses_a_forged_one(
    service: str, caller: Caller, db: Any
) -> None:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        for _ in range(3):
            assert (await client.post(CHAT, json=BODY)).status_code == 200
        await usage_rows(db, caller.tenant_id, wait_for=3)
        first = (await client.get("/api/ai/v1/usage", params={"limit": 2})).json()
        second = (await client.get("/api/ai/v1/usage", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        forged = await client.get("/api/ai/v1/usage", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 3
    assert forged.status_code == 400
    assert forged.json()["code"] == "invalid_cursor"


async def test_prompts_are_not_stored_unless_the_tenant_opts_in(service: str, caller: Caller, db: Any) -> None:
    async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
        assert (await client.post(CHAT, json=BODY)).status_code == 200
        await usage_rows(db, caller.tenant_id)
        admin = caller.colleague("admin")
        policy = await client.put("/api/ai/v1/policy", json={"store_content": True}, headers=admin.headers)
        assert policy.status_code == 200
        assert (await client.post(CHAT, json=BODY)).status_code == 200
    first, second = await usage_rows(db, caller.tenant_id, wait_for=2)
    assert first["prompt"] is None
    assert first["output"] is None
    assert "secret prompt" in json.dumps(second["prompt"])
    assert "Hello from anthropic" in json.dumps(second["output"])


async def test_each_finished_call_publishes_an_event(service: str, caller: Caller, db: Any) -> None:
    nc = await nats.connect(nats_url())
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            "portal.ai.completion.finished.v1",
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )
        async with httpx.AsyncClient(base_url=service, headers=caller.headers) as client:
            assert (await client.post(CHAT, json=BODY)).status_code == 200
        [row] = await usage_rows(db, caller.tenant_id)
        event = await next_event_for(sub, caller.tenant_id)
    finally:
        await nc.close()
    assert event["call_id"] == str(row["id"])
    assert (event["model_used"], event["input_tokens"], event["output_tokens"]) == ("anthropic/claude-x", 11, 7)
    assert "secret prompt" not in json.dumps(event)


async def next_event_for(sub: Any, tenant_id: str) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            message = await sub.next_msg(timeout=5)
            data = json.loads(message.data)
            if data.get("tenant_id") == tenant_id:
                return dict(data)

    return await asyncio.wait_for(wait(), timeout=10)
