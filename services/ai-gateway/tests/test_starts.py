"""Call starts against the real database: committed before a call goes on, withdrawn when it does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from ai_gateway.usage.starts import StartLog
from ai_support import Caller, call_start


@pytest.fixture(autouse=True)
async def _no_rows_left(db: asyncpg.Pool, caller: Caller) -> AsyncIterator[None]:
    """The starts written here belong to no call: left behind, another test's sweep would settle them."""
    yield
    await db.execute("DELETE FROM ai.call_starts WHERE tenant_id = $1", caller.tenant_id)


async def start_ids(db: asyncpg.Pool, caller: Caller) -> set[str]:
    rows = await db.fetch("SELECT id FROM ai.call_starts WHERE tenant_id = $1", caller.tenant_id)
    return {str(r["id"]) for r in rows}


async def test_begun_starts_are_committed_together_and_renewed(db: asyncpg.Pool, caller: Caller) -> None:
    starts = StartLog(db, linger_seconds=0.05)
    begun = [call_start(caller) for _ in range(3)]
    await asyncio.gather(*(starts.begin(start) for start in begun))
    assert await start_ids(db, caller) == {s.id for s in begun}
    assert starts.live == {s.id for s in begun}
    await starts.close()


async def test_a_start_withdrawn_before_or_after_its_commit_leaves_no_row(db: asyncpg.Pool, caller: Caller) -> None:
    starts = StartLog(db, linger_seconds=0.05)
    early, late, kept = call_start(caller), call_start(caller), call_start(caller)

    pending = starts.begin(early)
    await starts.withdraw(early.id, pending)  # still queued: cancelled, and deleted once written
    committed = starts.begin(late)
    await starts.begin(kept)
    assert committed.done()
    await starts.withdraw(late.id, committed)  # already committed: deleted now
    await starts.close()

    assert pending.cancelled()
    assert await start_ids(db, caller) == {kept.id}
    assert starts.live == {kept.id}, "withdrawn calls are not renewed"


async def test_a_failed_start_is_not_renewed(db: asyncpg.Pool, caller: Caller) -> None:
    starts = StartLog(db, linger_seconds=0.05)
    broken = call_start(caller, input_tokens=2**40)  # overflows `integer`: the database refuses the batch
    failed = starts.begin(broken)
    await asyncio.wait([failed])
    assert isinstance(failed.exception(), asyncpg.DataError)
    assert starts.live == set()
    await starts.close()
