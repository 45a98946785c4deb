"""Durable pull consumer: one DB transaction per batch, idempotent by event id, ack after commit, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from portal_core.logging import get_logger
from portal_core.telemetry import start_span, tracer
from portal_db import Connection, timed
from portal_db.migrations import validate_identifier

from portal_events import metrics
from portal_events.deadletter import deadletter
from portal_events.envelope import EventDecoder, MalformedEvent, ReceivedEvent, decode_event
from portal_events.inbox import DEFAULT_INBOX_RETENTION, prune_inbox
from portal_events.topology import DEFAULT_TOPOLOGY, Topology, ensure_deadletter_stream

Handler = Callable[[Connection, ReceivedEvent], Awaitable[None]]
# Gets every new event of a fetched batch at once (one multi-row INSERT instead of one per event).
BatchHandler = Callable[[Connection, Sequence[ReceivedEvent]], Awaitable[None]]

# Errors that mean the database (not the event) is at fault: the batch is retried whole and nothing is acked.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)

_log = get_logger(__name__)
_tracer = tracer("portal.events")


class _HandlerFailed(Exception):
    """A handler failed on the fast path: roll the batch back and redo it with savepoints."""


@dataclass
class _BatchOutcome:
    succeeded: list[Msg] = field(default_factory=list)
    failed: list[tuple[Msg, BaseException]] = field(default_factory=list)


@dataclass(frozen=True)
class RetryPolicy:
    """When to give up on an event, and how long to wait before each redelivery (doubling up to a cap)."""

    max_deliver: int = 5
    first_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, delivered: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, delivered - 1)))


class EventConsumer:
    """Feeds events of `subjects` in `stream` to `handler(conn, event)` inside the consumer's DB transaction.

    A handler may run more than once for one event (a batch is redone when another event in it fails, and
    delivery is at-least-once), but its database effects commit exactly once: keep its side effects in `conn`.

    Give either `handler` (one call per event) or `batch_handler` (one call with all new events of a batch; when
    it fails, the batch is redone one event per call, each in its own savepoint, so only the bad event is retried).
    `decoder` turns a message into a ReceivedEvent: `decode_event` (the default) refuses unregistered types,
    `decode_envelope` accepts every type and leaves the body undecoded.
    """

    def __init__(
        self,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        *,
        schema: str,
        durable_name: str,
        stream: str,
        subjects: Sequence[str],
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        decoder: EventDecoder = decode_event,
        retry: RetryPolicy = RetryPolicy(),
        batch_size: int = 100,
        ack_wait: float = 30.0,
        fetch_timeout: float = 1.0,
        batch_linger: float = 0.005,
        topology: Topology = DEFAULT_TOPOLOGY,
        inbox_retention: timedelta = DEFAULT_INBOX_RETENTION,
        inbox_prune_interval: float = 600.0,
    ) -> None:
        self._js = js
        self._pool = pool
        self._schema = validate_identifier(schema)
        self._durable = durable_name
        self._stream = stream
        self._subjects = list(subjects)
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler and batch_handler")
        self._handler = handler
        self._batch_handler = batch_handler
        self._decoder = decoder
        self._retry = retry
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._fetch_timeout = fetch_timeout
        self._batch_linger = batch_linger
        self._topology = topology
        self._inbox_retention = inbox_retention
        self._inbox_prune_interval = inbox_prune_interval
        self._pruner: asyncio.Task[None] | None = None
        self._deadletter_subject = topology.deadletter_subject(durable_name)
        self._stopping = False
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._claim_inbox = (
            f"INSERT INTO {schema}.event_inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        )
        self._forget_inbox = f"DELETE FROM {schema}.event_inbox WHERE consumer = $1 AND event_id = $2"

    async def start(self) -> None:
        """Create or update the durable consumer and the dead-letter stream, then consume in a background task."""
        await ensure_deadletter_stream(self._js, self._topology)
        config = ConsumerConfig(
            durable_name=self._durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=-1,  # the consumer dead-letters itself at retry.max_deliver: the server never drops silently
            max_ack_pending=max(1000, self._batch_size * 10),
            filter_subjects=self._subjects,
        )
        await self._js.add_consumer(self._stream, config)
        self._sub = await self._js.pull_subscribe_bind(durable=self._durable, stream=self._stream)
        self._task = asyncio.create_task(self._run(), name=f"event-consumer-{self._durable}")
        self._pruner = asyncio.create_task(self._prune_inbox_periodically(), name=f"inbox-pruner-{self._durable}")

    async def stop(self) -> None:
        """Stop fetching, finish the batch in flight, unsubscribe (so a later `nc.drain()` does not wait)."""
        self._stopping = True
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        if self._task is not None:
            await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _run(self) -> None:
        failures = 0
        # The next batch is fetched while this one is applied, so a NATS round trip and the linger never leave
        # the database idle. Only one fetch is in flight at a time and batches are applied one after another.
        fetching: asyncio.Task[list[Msg]] | None = None
        try:
            while not self._stopping:
                try:
                    prefetched, fetching = fetching, None
                    msgs = await (prefetched or self._fetch())
                    if msgs and not self._stopping:
                        fetching = asyncio.create_task(self._fetch())
                    if msgs:
                        await self._process(msgs)
                    failures = 0
                except Exception as exc:  # NATS away or a bug in a batch: pause, then fetch again (nothing was acked)
                    failures += 1
                    _log.warning("event consumer error", consumer=self._durable, error=repr(exc), attempt=failures)
                    await asyncio.sleep(min(5.0, 0.1 * 2**failures))
        finally:
            if fetching is not None:
                await self._release_prefetched(fetching)

    async def _release_prefetched(self, fetching: asyncio.Task[list[Msg]]) -> None:
        # Stopping with a batch fetched but not applied: hand it back at once rather than after ack_wait.
        with contextlib.suppress(Exception):
            for msg in await fetching:
                with contextlib.suppress(Exception):
                    await msg.nak()

    async def _prune_inbox_periodically(self) -> None:
        # Its own task, so a large first prune never holds up consuming.
        while True:
            await asyncio.sleep(self._inbox_prune_interval)
            try:
                with timed("consumer.inbox_prune"):
                    pruned = await prune_inbox(self._pool, self._schema, self._durable, self._inbox_retention)
            except Exception as exc:  # the database away: try again next time
                _log.warning("inbox prune failed", consumer=self._durable, error=repr(exc))
                continue
            if pruned:
                _log.info("inbox pruned", consumer=self._durable, rows=pruned)

    async def _fetch(self) -> list[Msg]:
        assert self._sub is not None
        try:
            # Wait for one message, then take what else is ready: low latency when idle, full batches under load.
            msgs = await self._sub.fetch(1, timeout=self._fetch_timeout)
        except (nats.errors.TimeoutError, TimeoutError):
            return []
        if self._batch_size > 1:
            with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):
                msgs += await self._sub.fetch(self._batch_size - 1, timeout=self._batch_linger)
        return msgs

    async def _process(self, msgs: list[Msg]) -> None:
        events: list[tuple[Msg, ReceivedEvent]] = []
        for msg in msgs:
            try:
                events.append((msg, self._decoder(msg.subject, msg.headers, msg.data)))
            except MalformedEvent as exc:
                await self._park(msg, "malformed", exc)
        if not events:
            return
        outcome = await self._apply_with_retry(events)
        for msg in outcome.succeeded:
            await msg.ack()
        for msg, error in outcome.failed:
            delivered = msg.metadata.num_delivered
            if delivered >= self._retry.max_deliver:
                await self._park(msg, "max_deliver", error)
            else:
                await msg.nak(delay=self._retry.delay(delivered))
        metrics.consumed.add(len(outcome.succeeded), {"consumer": self._durable, "outcome": "ok"})
        metrics.consumed.add(len(outcome.failed), {"consumer": self._durable, "outcome": "failed"})

    async def _park(self, msg: Msg, reason: str, exc: BaseException) -> None:
        _log.error("event dead-lettered", consumer=self._durable, reason=reason, error=repr(exc), subject=msg.subject)
        await deadletter(
            self._js,
            msg,
            subject=self._deadletter_subject,
            consumer=self._durable,
            reason=reason,
            error=f"{type(exc).__name__}: {exc}",
        )

    async def _apply_with_retry(self, events: list[tuple[Msg, ReceivedEvent]]) -> _BatchOutcome:
        attempt = 0
        while True:
            try:
                return await self._apply(events)
            except INFRASTRUCTURE_ERRORS as exc:
                attempt += 1
                if self._stopping:
                    raise
                _log.warning("consumer batch failed on infrastructure", consumer=self._durable, error=repr(exc))
                await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
                for msg, _ in events:  # keep the batch ours while the database comes back
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _apply(self, events: list[tuple[Msg, ReceivedEvent]]) -> _BatchOutcome:
        # Fast path without savepoints; if any handler fails, the batch is redone with one savepoint per event.
        started = time.perf_counter()
        try:
            outcome = await self._apply_batch(events, isolate=False)
        except _HandlerFailed:
            outcome = await self._apply_batch(events, isolate=True)
        metrics.handle_duration.record(time.perf_counter() - started, {"consumer": self._durable})
        return outcome

    async def _apply_batch(self, events: list[tuple[Msg, ReceivedEvent]], *, isolate: bool) -> _BatchOutcome:
        outcome = _BatchOutcome()
        async with self._pool.acquire() as conn, conn.transaction():
            with timed("consumer.inbox"):
                rows = await conn.fetch(self._claim_inbox, self._durable, [event.id for _, event in events])
            new_ids = {row["event_id"] for row in rows}
            if self._batch_handler is not None and not isolate:
                return await self._apply_whole_batch(conn, events, new_ids)
            for msg, event in events:
                if event.id not in new_ids:
                    outcome.succeeded.append(msg)  # already applied (or a duplicate within this batch)
                    continue
                new_ids.discard(event.id)
                try:
                    await self._handle_one(conn, event, isolate=isolate)
                except INFRASTRUCTURE_ERRORS:
                    raise
                except Exception as error:
                    if not isolate:
                        raise _HandlerFailed from error
                    await conn.execute(self._forget_inbox, self._durable, event.id)
                    outcome.failed.append((msg, error))
                else:
                    outcome.succeeded.append(msg)
        return outcome

    async def _apply_whole_batch(
        self, conn: Connection, events: list[tuple[Msg, ReceivedEvent]], new_ids: set[uuid.UUID]
    ) -> _BatchOutcome:
        assert self._batch_handler is not None
        fresh: list[ReceivedEvent] = []
        for _, event in events:
            if event.id in new_ids:
                new_ids.discard(event.id)  # a duplicate within the batch is handed over once
                fresh.append(event)
        if fresh:
            spans = [self._start_span(event, lean=True) for event in fresh]  # each event's trace shows this consumer
            try:
                await self._batch_handler(conn, fresh)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as error:
                raise _HandlerFailed from error
            finally:
                for span in spans:
                    span.end()
        return _BatchOutcome(succeeded=[msg for msg, _ in events])

    def _start_span(self, event: ReceivedEvent, *, lean: bool = False) -> Span:
        # A batch of a thousand events opens a thousand spans: `lean` keeps to the two attributes that identify
        # the message (attribute validation was a third of a batch consumer's CPU).
        attributes = {"messaging.destination.name": event.type, "messaging.message.id": str(event.id)}
        if not lean:
            attributes |= {"messaging.system": "nats", "messaging.consumer.group.name": self._durable}
        return start_span(
            _tracer,
            f"{event.type} process",
            context=propagate.extract(event.headers),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        )

    async def _handle_one(self, conn: Connection, event: ReceivedEvent, *, isolate: bool) -> None:
        with trace.use_span(self._start_span(event), end_on_exit=True):
            if self._batch_handler is not None:  # the isolated redo of a failed batch: one event per call
                async with conn.transaction():
                    await self._batch_handler(conn, [event])
                return
            assert self._handler is not None
            if not isolate:
                await self._handler(conn, event)
                return
            async with conn.transaction():  # a savepoint: a failing event rolls back only itself
                await self._handler(conn, event)
