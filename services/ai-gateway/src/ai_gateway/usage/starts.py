"""Call starts: a durable note, committed before a provider is called, that a call is under way.

A crashed process cannot record its calls at the end, so each call leaves a row in `call_starts` first;
the row is deleted in the transaction that writes the call's ledger row (`recorder.record_on`), and the
sweeper settles rows nobody renewed for longer than the call timeout. Starts are group-committed: the
calls that arrive while one INSERT is in flight are written together by the next one, so a burst costs a
few round trips, not one per call, and a lone call costs exactly one. The writer keeps its connection for
`linger_seconds` after its last write, so steady traffic does not pay a pool acquire, release and
connection reset (one more statement) per call; the guarantee is unchanged: every start is committed
before its caller goes on.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec
from portal_core.logging import get_logger
from portal_db import Connection

from ai_gateway.settings import SCHEMA

_log = get_logger("ai.starts")


class CallStart(msgspec.Struct, kw_only=True):
    id: str
    tenant_id: str
    user_id: str
    endpoint: str
    stream: bool
    model_requested: str
    input_tokens: int  # estimated from the prompt: what an interrupted call is charged
    cost_micros: int
    trace_id: str | None


# `synchronous_commit` off for this one transaction (set_config(..., true) ends with it): the commit does not
# wait for the WAL flush. The row still survives this process dying and a clean PostgreSQL restart; only a
# PostgreSQL crash within ~0.6 s can lose it, and then the call is still recorded when it finishes unless
# this process dies too. It halves the cost a call pays before its provider is called.
_INSERT = f"""
INSERT INTO {SCHEMA}.call_starts
    (id, tenant_id, user_id, endpoint, stream, model_requested, input_tokens, cost_micros, trace_id)
SELECT s.* FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::int[],
                       $8::bigint[], $9::text[]) AS s,
     (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
ON CONFLICT (id) DO NOTHING
"""


async def insert_starts(conn: Connection, starts: list[CallStart]) -> None:
    await conn.execute(
        _INSERT,
        [uuid.UUID(s.id) for s in starts],
        [s.tenant_id for s in starts],
        [s.user_id for s in starts],
        [s.endpoint for s in starts],
        [s.stream for s in starts],
        [s.model_requested for s in starts],
        [s.input_tokens for s in starts],
        [s.cost_micros for s in starts],
        [s.trace_id for s in starts],
    )


async def delete_starts(conn: Connection, call_ids: list[str]) -> None:
    await conn.execute(f"DELETE FROM {SCHEMA}.call_starts WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in call_ids])


class StartLog:
    """Writes call starts in group commits and knows which calls of this process are still unrecorded."""

    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 500, linger_seconds: float = 0.5) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._linger_seconds = linger_seconds
        self._pending: list[tuple[CallStart, asyncio.Future[None]]] = []
        self._arrived = asyncio.Event()  # a start was queued: wakes a writer lingering on its connection
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self.live: set[str] = set()  # started here, ledger row not written yet: renewed by the heartbeat

    def begin(self, start: CallStart) -> asyncio.Future[None]:
        """Queue the start for the next group commit and wake its writer now, without waiting: the future is
        done once the row is committed (or holds what the database raised). Cancelling it withdraws the start
        (a row already written is deleted by the writer)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((start, future))
        self._arrived.set()
        self.live.add(start.id)
        future.add_done_callback(lambda done: self._settled(start.id, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_pending())
        return future

    def _settled(self, call_id: str, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.live.discard(call_id)  # never sent upstream: nothing to renew (a stray row is swept)

    async def close(self) -> None:
        """Let a writer lingering on its connection go now (on shutdown, before the pool closes)."""
        self._closing = True
        self._arrived.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def withdraw(self, call_id: str, started: asyncio.Future[None]) -> None:
        """A started call will not be made after all (rate limited, its client gone): no provider saw it, so
        there is nothing to settle. `started` is what `begin` returned."""
        if started.cancel() or started.cancelled() or started.exception() is not None:
            return  # not committed yet (the writer deletes it once written), or never
        self.live.discard(call_id)
        try:
            async with self._pool.acquire() as conn:
                await delete_starts(conn, [call_id])
        except Exception as error:  # left to the sweeper, which charges its estimate: logged, not hidden
            _log.warning("a withdrawn call's start row could not be deleted", call_id=call_id, error=repr(error))

    def forget(self, call_ids: list[str]) -> None:
        """The calls' ledger rows are written (which deleted their starts)."""
        self.live.difference_update(call_ids)

    async def renew(self) -> None:
        """Mark this process's unfinished calls as alive, so the sweeper leaves them alone."""
        if not self.live:
            return
        ids = [uuid.UUID(i) for i in self.live]
        async with self._pool.acquire() as conn:
            await conn.execute(f"UPDATE {SCHEMA}.call_starts SET seen_at = now() WHERE id = ANY($1::uuid[])", ids)

    async def _write_pending(self) -> None:
        # Re-checked after the connection is released: a start queued meanwhile found this task still running.
        while self._pending:
            try:
                await self._write_on_one_connection()
            except Exception as error:
                _settle(self._pending, error)  # the database is away: fail the rest now rather than queue them
                self._pending = []

    async def _write_on_one_connection(self) -> None:
        async with self._pool.acquire() as conn:
            while True:
                abandoned: list[str] = []
                while self._pending:
                    batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                    try:
                        await insert_starts(conn, [start for start, _ in batch])
                    except Exception as error:
                        _settle(batch, error)
                        raise
                    abandoned += [start.id for start, future in batch if future.cancelled()]
                    _settle(batch, None)
                if abandoned:  # callers gone before their provider was called: no call to settle
                    await delete_starts(conn, abandoned)
                if self._pending:
                    continue
                if self._closing:
                    return
                # Keep the connection while calls keep coming; a start queued after the timeout (while the
                # connection is being released) is picked up by `_write_pending`'s loop.
                self._arrived.clear()
                try:
                    async with asyncio.timeout(self._linger_seconds):
                        await self._arrived.wait()
                except TimeoutError:
                    return


def _settle(batch: list[tuple[CallStart, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, future in batch:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
