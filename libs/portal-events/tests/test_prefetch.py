"""The consumer fetches the next batch while it applies one: acks still follow each batch's commit, and a
batch fetched but not applied when the consumer stops is handed back at once rather than after ack_wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from events_support import Topic, wait_until
from nats.js import JetStreamContext
from portal_contracts import spec_for
from portal_db import Connection
from portal_events import EventConsumer, Handler, ReceivedEvent
from portal_events.envelope import build_headers, encode_data

pytestmark = pytest.mark.integration

ACK_WAIT = 30.0  # far longer than any wait below: a message may only come back through an explicit nak


async def send(js: JetStreamContext, topic: Topic, order_id: str) -> None:
    headers = build_headers(spec_for(topic.subject), uuid.uuid4(), time=datetime.now(UTC))
    await js.publish(topic.subject, encode_data(topic.data_type(order_id=order_id, amount=1)), headers=headers)


def gated_handler(schema: str, entered: asyncio.Event, gate: asyncio.Event) -> Handler:
    """Records each event; the first one holds its transaction open until `gate` is set."""

    async def handle(conn: Connection, event: ReceivedEvent) -> None:
        order_id = event.data.order_id  # type: ignore[attr-defined]
        await conn.execute(f"INSERT INTO {schema}.applied (event_id, order_id) VALUES ($1, $2)", event.id, order_id)
        if not entered.is_set():
            entered.set()
            await gate.wait()

    return handle


def make_consumer(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic, handler: Handler
) -> EventConsumer:
    return EventConsumer(
        js,
        pool,
        schema=schema,
        durable_name=f"c_{topic.service}",
        stream=topic.stream,
        subjects=[topic.subject],
        handler=handler,
        batch_size=1,  # one event per batch: the second event can only arrive as the prefetched batch
        ack_wait=ACK_WAIT,
        topology=topic.topology,
    )


def consumer_state(js: JetStreamContext, topic: Topic) -> Callable[[], asyncio.Future[tuple[int, int]]]:
    async def state() -> tuple[int, int]:
        info = await js.consumer_info(topic.stream, f"c_{topic.service}")
        return info.num_ack_pending or 0, info.ack_floor.consumer_seq if info.ack_floor else 0

    return state  # type: ignore[return-value]


async def count_applied(pool: asyncpg.Pool, schema: str) -> int:
    count: int = await pool.fetchval(f"SELECT count(*) FROM {schema}.applied")
    return count


async def start_with_second_batch_prefetched(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic
) -> tuple[EventConsumer, Callable[[], asyncio.Future[tuple[int, int]]], asyncio.Event]:
    """A consumer holding the first event in its handler (until the returned gate is set) and the second
    fetched: both delivered, neither acked."""
    entered, gate = asyncio.Event(), asyncio.Event()
    consumer = make_consumer(pool, js, schema, topic, gated_handler(schema, entered, gate))
    state = consumer_state(js, topic)
    await send(js, topic, "first")
    await send(js, topic, "second")
    await consumer.start()
    try:
        await asyncio.wait_for(entered.wait(), 10)

        async def both_delivered() -> bool:
            return (await state())[0] == 2

        await wait_until(both_delivered, what="the second batch fetched while the first is applied")
    except BaseException:
        gate.set()
        await consumer.stop()
        raise
    return consumer, state, gate


async def test_next_batch_is_fetched_during_apply_but_acked_only_after_its_commit(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic
) -> None:
    consumer, state, gate = await start_with_second_batch_prefetched(pool, js, schema, topic)
    try:
        assert await state() == (2, 0)  # nothing acked while the first transaction is open
        assert await count_applied(pool, schema) == 0

        gate.set()

        async def both_acked() -> bool:
            return await state() == (0, 2)

        await wait_until(both_acked, what="both acked after their commits")
        assert await count_applied(pool, schema) == 2
    finally:
        gate.set()
        await consumer.stop()


async def test_a_prefetched_batch_is_handed_back_when_the_consumer_stops(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic
) -> None:
    first, _, gate = await start_with_second_batch_prefetched(pool, js, schema, topic)
    stopping = asyncio.create_task(first.stop())
    await asyncio.sleep(0.1)
    gate.set()  # the batch in flight finishes and commits; the prefetched one is not applied
    await asyncio.wait_for(stopping, 10)
    assert await count_applied(pool, schema) == 1

    open_gate = asyncio.Event()
    open_gate.set()
    second = make_consumer(pool, js, schema, topic, gated_handler(schema, asyncio.Event(), open_gate))
    await second.start()
    try:

        async def both_applied() -> bool:
            return await count_applied(pool, schema) == 2

        # Well inside ACK_WAIT: only the nak at stop can have brought the second event back this soon.
        await wait_until(both_applied, timeout=ACK_WAIT / 3, what="the handed-back event applied by the next consumer")
        rows = await pool.fetch(f"SELECT order_id FROM {schema}.applied ORDER BY order_id")
        assert [row["order_id"] for row in rows] == ["first", "second"]
    finally:
        await second.stop()
