"""Retention on a timer inside `python -m audit ingest`: one replica at a time, under an advisory lock."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from portal_core.logging import get_logger

from audit.chain.signing import HeadSigner
from audit.retention.service import apply_retention

_log = get_logger("audit.retention")
_LOCK_KEY = 0x61756469_74726574  # "auditret": replicas of the ingester take turns, never run it twice at once


async def run_once_if_free(pool: asyncpg.Pool, signer: HeadSigner, default_days: int) -> bool:
    """Apply retention unless another process is doing it right now; True if this one ran it."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
            return False
        try:
            await apply_retention(pool, signer, default_days)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return True


async def retention_loop(
    pool: asyncpg.Pool, signer: HeadSigner, default_days: int, interval: float, stop: asyncio.Event
) -> None:
    """Every `interval` seconds until `stop`; a failed run is logged and retried at the next tick."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        try:
            await run_once_if_free(pool, signer, default_days)
        except Exception as exc:  # the database may be away; ingest goes on
            _log.warning("retention run failed", error=repr(exc))
