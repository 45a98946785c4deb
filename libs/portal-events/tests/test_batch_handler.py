"""Batch handlers and envelope-only decoding: one call per fetched batch, unregistered types accepted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import pytest
from events_support import Topic, metric_total, wait_until
from nats.js import JetStreamContext
from portal_db import Connection
from portal_events import EventConsumer, OpaqueEventData, ReceivedEvent, RetryPolicy, decode_envelope
from portal_events.envelope import MSG_ID_HEADER, format_time

pytestmark = pytest.mark.integration


def raw_headers(event_type: str, event_id: uuid.UUID) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": str(event_id),
        "ce-type": event_type,
        "ce-source": "/portal/test",
        "ce-time": format_time(datetime.now(UTC)),
        "ce-tenant": "t-9",
        MSG_ID_HEADER: str(event_id),
    }


async def test_batch_handler_gets_whole_batches_and_unregistered_types_with_raw_body(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic
) -> None:
    calls: list[int] = []

    async def record(conn: Connection, events: Sequence[ReceivedEvent]) -> None:
        calls.append(len(events))
        for event in events:
            assert isinstance(event.data, OpaqueEventData)
            if event.payload == b'{"poison": true}':
                raise ValueError("poison")
        await conn.executemany(
            f"INSERT INTO {schema}.applied (event_id, order_id) VALUES ($1, $2)",
            [(event.id, event.payload.decode()) for event in events],
        )

    unregistered = f"portal.{topic.service}.thing.happened.v1"  # no contract anywhere declares this type
    ids = [uuid.uuid4() for _ in range(50)]
    for n, event_id in enumerate(ids):
        await js.publish(unregistered, f'{{"n": {n}}}'.encode(), headers=raw_headers(unregistered, event_id))
    poison_id = uuid.uuid4()
    await js.publish(unregistered, b'{"poison": true}', headers=raw_headers(unregistered, poison_id))
    await js.publish(unregistered, b"{}", headers=raw_headers(unregistered, ids[0]) | {MSG_ID_HEADER: "again"})

    consumer = EventConsumer(
        js,
        pool,
        schema=schema,
        durable_name=f"b_{topic.service}",
        stream=topic.stream,
        subjects=[f"portal.{topic.service}.>"],
        batch_handler=record,
        decoder=decode_envelope,
        retry=RetryPolicy(max_deliver=2, first_delay=0.05),
        batch_size=100,
        topology=topic.topology,
    )
    await consumer.start()
    try:
        await wait_until(lambda: _count(pool, schema, 50), what="the 50 good events")
        dead = lambda: metric_total("events.deadlettered", consumer=f"b_{topic.service}")  # noqa: E731
        await wait_until(lambda: _true(dead() >= 1), what="the poison event to be parked")
        await asyncio.sleep(0.3)
    finally:
        await consumer.stop()

    rows = await pool.fetch(f"SELECT event_id, order_id FROM {schema}.applied")
    assert sorted(r["event_id"] for r in rows) == sorted(ids)  # each once, the redelivered copy skipped
    assert {r["order_id"] for r in rows} == {f'{{"n": {n}}}' for n in range(50)}
    assert max(calls) > 1, "the handler was never given more than one event at a time"


def test_exactly_one_handler_kind_is_required(pool: asyncpg.Pool, js: JetStreamContext) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        EventConsumer(js, pool, schema="s", durable_name="d", stream="S", subjects=["x.>"])


async def _count(pool: asyncpg.Pool, schema: str, expected: int) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) FROM {schema}.applied") >= expected)


async def _true(value: bool) -> bool:
    return value
