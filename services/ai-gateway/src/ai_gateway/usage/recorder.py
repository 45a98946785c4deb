"""Finishing calls: ledger rows, budget charges and events, written in batches, exactly once per call id.

A call's row is inserted with its id (`ON CONFLICT DO NOTHING`); only the rows that were new are charged
and announced, in the same transaction, which also deletes the calls' start rows (`starts.py`). Batching
(a flush every few milliseconds, or at `max_batch`) turns four statements and a commit per call into a
handful per batch: recording was most of the gateway's own CPU per call. A batch that fails to commit
(the database restarting) stays queued and is retried with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import asyncpg
from opentelemetry.metrics import CallbackOptions, Observation
from portal_contracts.ai import CompletionFinished
from portal_core.logging import get_logger
from portal_core.telemetry import meter
from portal_db import Connection
from portal_events import Outgoing, publish_many

from ai_gateway.budgets.repository import BudgetRepository
from ai_gateway.settings import SCHEMA
from ai_gateway.usage.repository import UsageRepository
from ai_gateway.usage.schemas import UsageRecord
from ai_gateway.usage.starts import StartLog, delete_starts

_log = get_logger("ai.ledger")
TokensRecorded = Callable[[list[UsageRecord]], Awaitable[None]]
# Told of every committed batch and of the calls in it that were charged, before any other task runs.
BatchCommitted = Callable[[list[UsageRecord], list[UsageRecord]], None]
_writers: weakref.WeakSet[LedgerWriter] = weakref.WeakSet()


def _observe_queued(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(sum(writer.queued for writer in _writers))]


_meter = meter("ai.ledger")
_meter.create_observable_gauge(
    "ai.ledger.queued", [_observe_queued], description="Finished calls waiting to be written to the ledger"
)
_write_failures = _meter.create_counter("ai.ledger.write_failures", description="Ledger batch writes that failed")


async def record_calls(pool: asyncpg.Pool, records: list[UsageRecord]) -> list[UsageRecord]:
    """Record a batch in one transaction; returns the records that were new (the ones charged now)."""
    async with pool.acquire() as conn, conn.transaction():
        return await record_on(conn, records)


async def record_on(conn: Connection, records: list[UsageRecord]) -> list[UsageRecord]:
    """`record_calls` inside the caller's transaction."""
    new_ids = await UsageRepository(conn).insert_new(records)
    new = [r for r in records if r.id in new_ids]
    charges: dict[str, tuple[int, int]] = {}
    for record in new:
        tokens, cost = charges.get(record.tenant_id, (0, 0))
        charges[record.tenant_id] = (
            tokens + record.input_tokens + record.output_tokens,
            cost + record.cost_micros,
        )
    await BudgetRepository(conn).charge_many({t: c for t, c in charges.items() if c != (0, 0)})
    await publish_many(conn, [Outgoing(_event(r), tenant_id=r.tenant_id, entity_id=r.id) for r in new], schema=SCHEMA)
    await delete_starts(conn, [r.id for r in records])
    return new


class LedgerWriter:
    """Collects finished calls and records them in batches from one background task, retrying failed ones."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        starts: StartLog,
        on_recorded: TokensRecorded,
        *,
        on_committed: BatchCommitted | None = None,
        max_batch: int = 200,
        max_delay_seconds: float = 0.05,
        max_queued: int = 50_000,
        backoff: tuple[float, float] = (0.05, 2.0),
        close_timeout_seconds: float = 10.0,
    ) -> None:
        self._pool = pool
        self._starts = starts
        self._on_recorded = on_recorded
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._max_delay = max_delay_seconds
        self._max_queued = max_queued
        self._backoff = backoff
        self._close_timeout = close_timeout_seconds
        self._queue: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        _writers.add(self)

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def backlogged(self) -> bool:
        """True when the queue is full: new calls are refused until the database takes the backlog."""
        return len(self._queue) >= self._max_queued

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, record: UsageRecord) -> None:
        self._queue.append(record)
        self._wake.set()

    async def close(self) -> None:
        """Record what is queued, then stop (on shutdown, before the pool closes). Gives up after
        `close_timeout_seconds` if the database stays away: those calls' start rows remain, and the
        sweeper settles them as interrupted."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        failures = 0
        deadline: float | None = None
        while not (self._closing and not self._queue):
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._closing and failures == 0 and len(self._queue) < self._max_batch:
                await asyncio.sleep(self._max_delay)  # let the batch fill a little
            batch = self._queue[: self._max_batch]
            try:
                new = await record_calls(self._pool, batch)
            except Exception as error:
                _write_failures.add(1)
                if not _transient(error):  # the database answered and refused this batch: find the culprit
                    await self._isolate(batch, error)
                    continue
                failures += 1
                if self._closing:
                    deadline = deadline or time.monotonic() + self._close_timeout
                    if time.monotonic() > deadline:
                        _log.error("ledger unreachable at shutdown", call_ids=[r.id for r in self._queue])
                        return
                wait = min(self._backoff[1], self._backoff[0] * 2 ** (failures - 1))
                _log.warning(
                    "recording finished calls failed; retrying",
                    queued=len(self._queue),
                    wait=wait,
                    error=repr(error),
                    failures=failures,
                )
                await asyncio.sleep(wait)
                continue
            failures = 0
            await self._done(batch, new)

    async def _done(self, batch: list[UsageRecord], new: list[UsageRecord]) -> None:
        del self._queue[: len(batch)]  # submit() only appends: the batch is still the queue's head
        self._starts.forget([r.id for r in batch])
        if self._on_committed is not None:
            self._on_committed(batch, new)
        try:
            await self._on_recorded(new)
        except Exception:
            _log.exception("counting recorded tokens failed")

    async def _isolate(self, batch: list[UsageRecord], error: Exception) -> None:
        """Record a refused batch call by call. A call refused on its own is left to the sweeper (its start
        row stays, no longer renewed): it is charged as `interrupted` rather than blocking every call after it."""
        new: list[UsageRecord] = []
        for record in batch:
            try:
                new += await record_calls(self._pool, [record])
            except Exception as alone:
                _log.error("a finished call was refused by the ledger", call_id=record.id, error=repr(alone))
        _log.warning("a ledger batch was refused; recorded call by call", error=repr(error), calls=len(batch))
        await self._done(batch, new)


# The database being away (restarting, failing over, out of connections) rather than refusing the data.
_TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
    asyncpg.ReadOnlySQLTransactionError,
)


def _transient(error: Exception) -> bool:
    return isinstance(error, _TRANSIENT)


def _event(record: UsageRecord) -> CompletionFinished:
    return CompletionFinished(
        call_id=record.id,
        tenant_id=record.tenant_id,
        user_id=record.user_id,
        endpoint=record.endpoint,
        stream=record.stream,
        model_requested=record.model_requested,
        model_used=record.model_used,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cached_tokens=record.cached_tokens,
        cost_usd=record.cost_micros / 1_000_000,
        latency_ms=record.latency_ms,
        outcome=record.outcome,
        error_code=record.error_code,
        finished_at=datetime.now(UTC),
    )
