"""Publish committed outbox rows to JetStream, then delete them: at-least-once, deduplicated by Nats-Msg-Id."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from nats.js import JetStreamContext
from portal_core.logging import get_logger
from portal_db import timed
from portal_db.migrations import validate_identifier

from portal_events import metrics
from portal_events.outbox import notify_channel

_log = get_logger(__name__)


class OutboxRelay:
    """Moves `<schema>.event_outbox` to JetStream. Several instances may run: rows are claimed with SKIP LOCKED."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        schema: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        ack_timeout: float = 5.0,
        max_backoff: float = 10.0,
    ) -> None:
        self._pool = pool
        self._js = js
        self._schema = validate_identifier(schema)
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._ack_timeout = ack_timeout
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._listener: PoolConnectionProxy[asyncpg.Record] | None = None
        self._select = (
            f"SELECT id, subject, headers::text AS headers, payload, created_at FROM {schema}.event_outbox "
            "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
        )
        self._delete = f"DELETE FROM {schema}.event_outbox WHERE id = ANY($1::uuid[])"

    def start(self) -> None:
        """Run the relay in a background task until `stop()`."""
        self._task = asyncio.create_task(self.run(), name=f"outbox-relay-{self._schema}")

    async def stop(self) -> None:
        """Finish the batch in flight, then stop listening."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        """Relay until `stop()`: wake on NOTIFY or every poll_interval; back off while NATS or PG fail."""
        failures = 0
        try:
            while not self._stopping:
                try:
                    await self._ensure_listener()
                    relayed = await self.relay_once()
                    failures = 0
                except Exception as exc:  # the rows stay in the outbox: retried after a pause
                    failures += 1
                    metrics.publish_failures.add(1, {"schema": self._schema})
                    _log.warning("outbox relay failed", schema=self._schema, error=repr(exc), attempt=failures)
                    await self._sleep(min(self._max_backoff, 0.1 * 2**failures))
                    continue
                if relayed < self._batch_size:
                    await self._sleep(self._poll_interval)
        finally:
            await self._close_listener()

    async def relay_once(self) -> int:
        """Publish one batch and delete it once JetStream acked every message; return how many were relayed."""
        self._wake.clear()
        async with self._pool.acquire() as conn, conn.transaction():
            with timed("outbox.claim"):
                rows = await conn.fetch(self._select, self._batch_size)
            if not rows:
                return 0
            await self._publish_all(rows)
            with timed("outbox.delete"):
                await conn.execute(self._delete, [row["id"] for row in rows])
        self._record_lag(rows)
        return len(rows)

    async def _publish_all(self, rows: list[asyncpg.Record]) -> None:
        futures: list[asyncio.Future[Any]] = []
        try:
            for row in rows:
                headers = msgspec.json.decode(row["headers"], type=dict[str, str])
                futures.append(await self._js.publish_async(row["subject"], bytes(row["payload"]), headers=headers))
            await asyncio.wait_for(asyncio.gather(*futures), self._ack_timeout)
        finally:
            for future in futures:
                future.cancel()  # no-op when done; releases publish_async's slots when an ack never came

    def _record_lag(self, rows: list[asyncpg.Record]) -> None:
        now = datetime.now(UTC)
        attributes = {"schema": self._schema}
        metrics.published.add(len(rows), attributes)
        for row in rows:
            metrics.outbox_lag.record((now - row["created_at"]).total_seconds(), attributes)

    async def _sleep(self, seconds: float) -> None:
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _ensure_listener(self) -> None:
        # A lost LISTEN connection only costs latency (the poll still runs), so it is re-made quietly.
        if self._listener is not None and not _connection_lost(self._listener):
            return
        await self._close_listener()
        started = time.monotonic()
        try:
            conn = await self._pool.acquire(timeout=self._ack_timeout)
        except Exception as exc:
            _log.warning("outbox listener unavailable", schema=self._schema, error=repr(exc))
            return
        try:
            await conn.add_listener(notify_channel(self._schema), self._on_notify)
        except Exception:
            await self._pool.release(conn)
            raise
        self._listener = conn
        _log.debug("outbox listener ready", schema=self._schema, seconds=time.monotonic() - started)

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(notify_channel(self._schema), self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()


def _connection_lost(conn: PoolConnectionProxy[asyncpg.Record]) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when its server went away (a restart)
        return True
