"""Admission: a tenant's policy and budget read is reused (TENANT_STATE_TTL_SECONDS) without weakening
budgets, and the rate limit is asked while the call's start is committed.

The cache tests run an AI gateway whose cache would outlive the test (60 s) unless they say otherwise, so
what blocks or admits a call is the cache's accounting, not an expired entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from ai_support import Caller, usage_rows
from portal_core.testing import ThreadServer
from test_budgets import CHAT, read_budget, set_budget

BODY = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}  # the fake: 11 + 7 tokens


async def test_a_budget_spent_by_this_process_blocks_the_next_call_before_its_charge_commits(
    make_service: Callable[..., ThreadServer], caller: Caller, db: Any
) -> None:
    with make_service(TENANT_STATE_TTL_SECONDS="60") as server:
        await set_budget(server.url, caller.colleague("admin"), period="day", token_limit=18)
        async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=30) as client:
            assert (await client.post(CHAT, json=BODY)).status_code == 200  # reads the budget: 0 of 18 used
            blocked = await client.post(CHAT, json=BODY)  # at once: the charge may still be queued
            assert blocked.status_code == 429, blocked.text
            assert blocked.json()["error"]["code"] == "budget_exhausted"
        await usage_rows(db, caller.tenant_id, wait_for=1)
        await asyncio.sleep(0.3)  # would a second (wrong) charge land?
        assert len(await usage_rows(db, caller.tenant_id)) == 1
        assert (await read_budget(server.url, caller))["tokens_used"] == 18, "charged exactly once"


async def test_a_refusal_is_read_afresh_so_a_limit_raised_elsewhere_admits_at_once(
    make_service: Callable[..., ThreadServer], caller: Caller, db: Any
) -> None:
    with make_service(TENANT_STATE_TTL_SECONDS="60") as server:
        await set_budget(server.url, caller.colleague("admin"), period="day", token_limit=18)
        async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=30) as client:
            assert (await client.post(CHAT, json=BODY)).status_code == 200
            await usage_rows(db, caller.tenant_id, wait_for=1)
            # Another instance's PUT /budget: this one's cache is not told.
            await db.execute("UPDATE ai.budgets SET token_limit = 1000 WHERE tenant_id = $1", caller.tenant_id)
            assert (await client.post(CHAT, json=BODY)).status_code == 200


async def test_charges_of_other_instances_are_seen_after_the_ttl(
    make_service: Callable[..., ThreadServer], caller: Caller, db: Any
) -> None:
    with make_service(TENANT_STATE_TTL_SECONDS="0.5") as server:
        await set_budget(server.url, caller.colleague("admin"), period="day", token_limit=1000)
        async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=30) as client:
            assert (await client.post(CHAT, json=BODY)).status_code == 200
            # Another instance spent the rest of the budget.
            await db.execute("UPDATE ai.budgets SET tokens_used = 1000 WHERE tenant_id = $1", caller.tenant_id)
            await asyncio.sleep(0.6)
            blocked = await client.post(CHAT, json=BODY)
            assert blocked.status_code == 429, blocked.text


async def test_policy_and_budget_changes_made_here_apply_at_once(
    make_service: Callable[..., ThreadServer], caller: Caller, db: Any
) -> None:
    admin = caller.colleague("admin")
    with make_service(TENANT_STATE_TTL_SECONDS="60") as server:
        async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=30) as client:
            assert (await client.post(CHAT, json=BODY)).status_code == 200  # no policy, no budget: cached
            # Its charge lands before the budget below exists: a charge committed after would count against it.
            assert len(await usage_rows(db, caller.tenant_id, wait_for=1)) == 1
            async with httpx.AsyncClient(base_url=server.url, headers=admin.headers) as admins:
                put = await admins.put("/api/ai/v1/policy", json={"allowed_models": ["openai/gpt-4o-mini"]})
                assert put.status_code == 200, put.text
            assert (await client.post(CHAT, json=BODY)).status_code == 403
            await set_budget(server.url, admin, period="day", token_limit=1)
            mini = await client.post(CHAT, json={**BODY, "model": "openai/gpt-4o-mini"})
            assert mini.status_code == 200  # 0 of 1 used: admitted, then charged 18
            assert (await client.post(CHAT, json={**BODY, "model": "openai/gpt-4o-mini"})).status_code == 429


async def test_a_rate_limited_call_leaves_no_start_and_no_charge(
    make_service: Callable[..., ThreadServer], caller: Caller, db: Any
) -> None:
    with make_service(USER_REQUESTS_PER_MINUTE="1") as server:
        async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=30) as client:
            assert (await client.post(CHAT, json=BODY)).status_code == 200
            limited = await client.post(CHAT, json=BODY)  # its start was written beside the Redis check
            assert limited.status_code == 429, limited.text
            assert limited.json()["error"]["type"] == "rate_limit_error"
        await usage_rows(db, caller.tenant_id, wait_for=1)
        starts = await db.fetchval("SELECT count(*) FROM ai.call_starts WHERE tenant_id = $1", caller.tenant_id)
        assert starts == 0, "the refused call's start row is gone: the sweeper will not charge it"
        assert len(await usage_rows(db, caller.tenant_id)) == 1
