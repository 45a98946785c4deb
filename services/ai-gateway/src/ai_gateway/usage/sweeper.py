"""Settling calls a crashed process left unfinished, and keeping this process's unfinished calls alive.

A call's start row (`starts.py`) is renewed every few seconds while its process lives. One the renewals
stopped reaching for longer than the call timeout belongs to a process that died (or lost its database
for that long): the sweeper records it with outcome `interrupted`, charged the prompt's estimated input
tokens, through the same exactly-once path as every call. One sweeper at a time (an advisory lock, waited for);
`FOR UPDATE SKIP LOCKED` and the ledger's `ON CONFLICT` would keep two apart anyway.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from portal_core.logging import get_logger

from ai_gateway.settings import SCHEMA
from ai_gateway.usage.recorder import record_on
from ai_gateway.usage.schemas import UsageRecord
from ai_gateway.usage.starts import StartLog

_log = get_logger("ai.sweeper")
_SWEEP_LOCK = 0x6169_5357  # "aiSW": the advisory lock one sweeper at a time holds while sweeping


async def sweep_interrupted(pool: asyncpg.Pool, stale_after_seconds: float, limit: int = 500) -> list[UsageRecord]:
    """Record the calls whose start rows went unrenewed for `stale_after_seconds`; returns those newly charged."""
    async with pool.acquire() as conn, conn.transaction():
        # Waits for a sweep in progress elsewhere (one short transaction) rather than skipping: a sweep asked
        # for (the `sweep` command) always looks at the rows, after the other one settled what it took.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SWEEP_LOCK)
        rows = await conn.fetch(
            f"""
            SELECT id, tenant_id, user_id, endpoint, stream, model_requested, input_tokens, cost_micros, trace_id,
                   (extract(epoch FROM now() - started_at) * 1000)::int AS latency_ms
            FROM {SCHEMA}.call_starts
            WHERE seen_at < now() - make_interval(secs => $1)
            ORDER BY seen_at LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            stale_after_seconds,
            limit,
        )
        if not rows:
            return []
        new = await record_on(conn, [_interrupted(row) for row in rows])
    _log.warning("settled interrupted calls", call_ids=[r.id for r in new])
    return new


def _interrupted(row: asyncpg.Record) -> UsageRecord:
    return UsageRecord(
        id=str(row["id"]),
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        endpoint=row["endpoint"],
        stream=row["stream"],
        model_requested=row["model_requested"],
        model_used=None,
        provider=None,
        input_tokens=row["input_tokens"],
        output_tokens=0,
        cached_tokens=0,
        cost_micros=row["cost_micros"],
        latency_ms=max(0, row["latency_ms"]),
        first_token_ms=None,
        outcome="interrupted",
        error_code=None,
        trace_id=row["trace_id"],
    )


class CallKeeper:
    """Background task: renew this process's unfinished calls, and sweep other processes' dead ones."""

    def __init__(self, pool: asyncpg.Pool, starts: StartLog, stale_after_seconds: float) -> None:
        self._pool = pool
        self._starts = starts
        self._stale_after = stale_after_seconds
        self._interval = min(30.0, stale_after_seconds / 4)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._starts.renew()
                await sweep_interrupted(self._pool, self._stale_after)
            except Exception as error:  # the database is away: try again next round
                _log.warning("renewing or sweeping calls failed", error=repr(error))
