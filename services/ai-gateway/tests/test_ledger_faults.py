"""Faults lose no accounting: a PostgreSQL restart mid-traffic, a process killed mid-stream, a long stream
outliving the sweep threshold. Real PostgreSQL (a private cluster for the restart), Redis and NATS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from ai_gateway.app import MIGRATIONS, create
from ai_gateway.chat.types import approximate_tokens
from ai_gateway.settings import AiSettings
from ai_gateway.usage.recorder import LedgerWriter
from ai_gateway.usage.schemas import UsageRecord
from ai_gateway.usage.starts import StartLog
from ai_gateway.usage.sweeper import sweep_interrupted
from ai_support import Caller, call_start, new_caller, usage_rows
from portal_core import testing as core_testing
from portal_core.ids import new_id
from portal_core.settings import load_settings
from portal_core.test_infra import nats_url
from portal_core.testing import ThreadServer, free_port
from portal_db import migrate_url
from portal_db.testing import PrivatePostgres
from portal_events import EVENT_MIGRATIONS
from portal_events.testing import published_since, stream_sequence

CHAT = "/api/ai/v1/chat/completions"
FINISHED = "portal.ai.completion.finished.v1"
PROMPT = "one two three four five six"


def stream_body(prompt: str = PROMPT) -> dict[str, Any]:
    return {"model": "local/echo", "stream": True, "messages": [{"role": "user", "content": prompt}]}


async def set_budget(url: str, caller: Caller) -> None:
    async with httpx.AsyncClient(base_url=url, headers=caller.colleague("admin").headers) as client:
        response = await client.put("/api/ai/v1/budget", json={"period": "day", "token_limit": 10_000_000})
        assert response.status_code == 200, response.text


async def tokens_used(db: asyncpg.Pool, tenant_id: str) -> int:
    return int(await db.fetchval("SELECT tokens_used FROM ai.budgets WHERE tenant_id = $1", tenant_id))


# ---------------------------------------------------------------- PostgreSQL restarted mid-traffic


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


@dataclass
class PrivateDatabase:
    url: str
    pool: asyncpg.Pool


@pytest.fixture
async def private_db(private_postgres: PrivatePostgres) -> AsyncIterator[PrivateDatabase]:
    admin = await asyncpg.connect(private_postgres.admin_dsn)
    name = f"ai_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = private_postgres.admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    await migrate_url(url, schema="ai", directory=EVENT_MIGRATIONS.directory, table=EVENT_MIGRATIONS.table)
    await migrate_url(url, schema="ai", directory=MIGRATIONS)
    pool = await asyncpg.create_pool(url, min_size=0, max_size=2)
    yield PrivateDatabase(url, pool)
    await pool.close()


async def stream_once(client: httpx.AsyncClient, statuses: list[int] | None = None) -> bool:
    """One streamed call; True when it was admitted (status 200) and streamed to the end."""
    try:
        async with client.stream("POST", CHAT, json=stream_body()) as response:
            if statuses is not None:
                statuses.append(response.status_code)
            if response.status_code != 200:
                return False
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
            return b"[DONE]" in body
    except httpx.TransportError:
        return False


async def test_a_database_restart_mid_traffic_charges_every_call_exactly_once(
    env_for: Callable[..., dict[str, str]],
    telemetry: core_testing.TestTelemetry,
    private_postgres: PrivatePostgres,
    private_db: PrivateDatabase,
) -> None:
    caller = new_caller()
    env = env_for(private_db.url, LOCAL_STREAM_DELAY_SECONDS="0.05")
    db = private_db.pool
    failures_before = telemetry.metric_total("ai.ledger.write_failures")
    nc = await nats.connect(nats_url())
    published_before = await stream_sequence(nc.jetstream(), FINISHED)
    with ThreadServer(create(load_settings(AiSettings, env))) as server:
        await set_budget(server.url, caller)
        served: list[bool] = []
        statuses: list[int] = []
        stop = asyncio.Event()

        async def traffic() -> None:
            async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=20) as client:
                while not stop.is_set():
                    served.append(await stream_once(client, statuses))
                    if not served[-1]:
                        await asyncio.sleep(0.05)

        workers = [asyncio.create_task(traffic()) for _ in range(4)]
        await asyncio.sleep(1.0)
        in_flight_at_stop = len(served)
        await asyncio.to_thread(private_postgres.stop)  # streams in flight finish while the ledger is away
        await asyncio.sleep(1.5)
        assert telemetry.metric_total("ai.ledger.queued") > 0, "nothing waited for the database"
        await asyncio.to_thread(private_postgres.start)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*workers)

        completed = served.count(True)
        assert in_flight_at_stop > 0, "no traffic before the restart"
        assert completed > in_flight_at_stop, "no traffic after the restart"
        assert telemetry.metric_total("ai.ledger.write_failures") > failures_before, "the outage missed the ledger"
        assert set(statuses) <= {200, 503}, "calls refused during the outage are 503s to retry, never 500s"
        assert 503 in statuses
        rows = await usage_rows(db, caller.tenant_id, wait_for=completed, timeout=20)
        await outbox_drained(db, timeout=20)  # the relay backs off while the database is away (up to seconds)
        try:
            events = await events_since(nc, published_before, caller.tenant_id)
        finally:
            await nc.close()
    assert len(rows) == completed
    assert {r["outcome"] for r in rows} == {"completed"}
    assert await tokens_used(db, caller.tenant_id) == sum(r["input_tokens"] + r["output_tokens"] for r in rows)
    assert await db.fetchval("SELECT count(*) FROM ai.call_starts WHERE tenant_id = $1", caller.tenant_id) == 0
    # One event per call, published or still in the outbox (portal_events' relay may be mid-recovery).
    pending = await db.fetch("SELECT headers->>'ce-subject' AS call_id FROM ai.event_outbox")
    announced = [e["call_id"] for e in events] + [p["call_id"] for p in pending]
    assert sorted(announced) == sorted(str(r["id"]) for r in rows)


# ---------------------------------------------------------------- a process killed mid-stream


def run_sweep(env: dict[str, str], stale_after: float) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ai_gateway", "sweep"],
        env={**env, "INTERRUPTED_AFTER_SECONDS": str(stale_after)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]  # the summary line, after any log lines


@pytest.fixture
def served_process(
    env_for: Callable[..., dict[str, str]], database_url: str
) -> Iterator[tuple[str, subprocess.Popen[bytes], dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        **env_for(database_url, LOCAL_STREAM_DELAY_SECONDS="0.3", LOG_LEVEL="WARNING"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    # Its own process group: granian serves from a worker process, and the kill must take both.
    process = subprocess.Popen([sys.executable, "-m", "ai_gateway"], env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/ai/v1/models", timeout=1).status_code in (200, 401):
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, "ai_gateway exited"
        assert time.monotonic() < deadline, "ai_gateway did not start"
        time.sleep(0.1)
    yield url, process, env
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


async def outbox_drained(db: asyncpg.Pool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await db.fetchval("SELECT count(*) FROM ai.event_outbox") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def events_since(nc: Any, published_before: int, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's completion events published after stream sequence `published_before`."""
    found = [json.loads(m.data or b"{}") for m in await published_since(nc.jetstream(), FINISHED, published_before)]
    return [data for data in found if data.get("tenant_id") == tenant_id]


async def test_a_call_cut_by_sigkill_is_settled_once_as_interrupted(
    service: str,
    db: asyncpg.Pool,
    served_process: tuple[str, subprocess.Popen[bytes], dict[str, str]],
) -> None:
    url, process, env = served_process
    caller = new_caller()
    await set_budget(url, caller)
    async with (
        httpx.AsyncClient(base_url=url, headers=caller.headers, timeout=20) as client,
        client.stream("POST", CHAT, json=stream_body()) as response,
    ):
        assert response.status_code == 200
        first = await anext(response.aiter_bytes())
        assert b"chat.completion.chunk" in first
        os.killpg(process.pid, signal.SIGKILL)  # mid-stream: the call never reaches the ledger writer
        process.wait(timeout=10)
    starts = await db.fetch("SELECT * FROM ai.call_starts WHERE tenant_id = $1", caller.tenant_id)
    assert len(starts) == 1
    assert await usage_rows(db, caller.tenant_id, wait_for=0) == []

    nc = await nats.connect(nats_url())
    try:
        published_before = await stream_sequence(nc.jetstream(), FINISHED)
        assert run_sweep(env, stale_after=60) == "settled 0 interrupted calls"  # not stale yet: left alone
        await asyncio.sleep(1.2)
        assert run_sweep(env, stale_after=1) == "settled 1 interrupted calls"
        assert run_sweep(env, stale_after=1) == "settled 0 interrupted calls"  # exactly once
        await outbox_drained(db, timeout=20)  # the `service` fixture relays this database's outbox
        events = await events_since(nc, published_before, caller.tenant_id)
    finally:
        await nc.close()

    [row] = await usage_rows(db, caller.tenant_id)
    expected_input = approximate_tokens(PROMPT)
    assert str(row["id"]) == str(starts[0]["id"])
    assert (row["outcome"], row["input_tokens"], row["output_tokens"]) == ("interrupted", expected_input, 0)
    assert await tokens_used(db, caller.tenant_id) == expected_input
    assert [(e["call_id"], e["outcome"]) for e in events] == [(str(row["id"]), "interrupted")]
    assert await db.fetchval("SELECT count(*) FROM ai.call_starts WHERE tenant_id = $1", caller.tenant_id) == 0


# ---------------------------------------------------------------- a live stream is never swept


async def test_a_stream_longer_than_the_sweep_threshold_is_renewed_not_swept(
    make_service: Callable[..., ThreadServer], db: asyncpg.Pool, caller: Caller
) -> None:
    # Renewed every 0.1 s, swept after 0.4 s unrenewed; the stream lasts ~2 s (7 words x 0.3 s).
    with make_service(LOCAL_STREAM_DELAY_SECONDS="0.3", INTERRUPTED_AFTER_SECONDS="0.4") as server:
        await set_budget(server.url, caller)
        async with httpx.AsyncClient(base_url=server.url, headers=caller.headers, timeout=20) as client:
            assert await stream_once(client)
        [row] = await usage_rows(db, caller.tenant_id)
    assert row["outcome"] == "completed"
    assert row["output_tokens"] > 0
    assert await tokens_used(db, caller.tenant_id) == row["input_tokens"] + row["output_tokens"]


# ---------------------------------------------------------------- a record the database refuses


async def test_a_refused_call_does_not_block_the_others_and_is_settled_by_the_sweeper(
    db: asyncpg.Pool, caller: Caller
) -> None:
    good, poison = (ledger_record(caller, input_tokens=n) for n in (5, 2**40))  # 2**40 overflows `integer`
    starts = StartLog(db)
    for record in (good, poison):
        await starts.begin(call_start(caller, record.id))
    writer = LedgerWriter(db, starts, lambda _: asyncio.sleep(0), max_delay_seconds=0)
    writer.start()
    writer.submit(poison)
    writer.submit(good)
    await writer.close()
    assert [str(r["id"]) for r in await usage_rows(db, caller.tenant_id)] == [good.id]
    assert starts.live == set()  # the refused call is no longer renewed: the sweeper owns it now

    await asyncio.sleep(0.6)
    settled = await sweep_interrupted(db, stale_after_seconds=0.5)
    assert [r.id for r in settled if r.tenant_id == caller.tenant_id] == [poison.id]
    rows = await usage_rows(db, caller.tenant_id, wait_for=2)
    assert [(str(r["id"]), r["outcome"]) for r in rows] == [(good.id, "completed"), (poison.id, "interrupted")]


def ledger_record(caller: Caller, input_tokens: int) -> UsageRecord:
    return UsageRecord(
        id=str(new_id()),
        tenant_id=caller.tenant_id,
        user_id=caller.user_id,
        endpoint="chat.completions",
        stream=False,
        model_requested="local/echo",
        model_used="local/echo",
        provider="local",
        input_tokens=input_tokens,
        output_tokens=1,
        cached_tokens=0,
        cost_micros=0,
        latency_ms=3,
        first_token_ms=None,
        outcome="completed",
        error_code=None,
        trace_id=None,
    )
