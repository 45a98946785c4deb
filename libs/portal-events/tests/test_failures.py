"""Failing handlers and malformed messages end on the dead-letter subject; one failure never sinks a batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest
from events_support import Topic, metric_total, wait_until
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from portal_contracts import spec_for
from portal_contracts.platform import MessageDeadLettered
from portal_db import Connection
from portal_events import EventConsumer, Handler, ReceivedEvent, RetryPolicy
from portal_events.envelope import build_headers, encode_data

pytestmark = pytest.mark.integration
MAX_DELIVER = 3


def handler_failing_on(schema: str, poison: str) -> Handler:
    async def handle(conn: Connection, event: ReceivedEvent) -> None:
        order_id = event.data.order_id  # type: ignore[attr-defined]
        await conn.execute(f"INSERT INTO {schema}.applied (event_id, order_id) VALUES ($1, $2)", event.id, order_id)
        if order_id == poison:
            raise ValueError(f"cannot apply {order_id}\nsecond line")

    return handle


@pytest.fixture
async def consumer(pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic) -> AsyncIterator[str]:
    name = f"c_{topic.service}"
    events_consumer = EventConsumer(
        js,
        pool,
        schema=schema,
        durable_name=name,
        stream=topic.stream,
        subjects=[f"portal.{topic.service}.>"],
        handler=handler_failing_on(schema, "poison"),
        retry=RetryPolicy(max_deliver=MAX_DELIVER, first_delay=0.05, max_delay=0.2),
        topology=topic.topology,
    )
    await events_consumer.start()
    yield name
    await events_consumer.stop()


async def send(js: JetStreamContext, topic: Topic, order_id: str) -> uuid.UUID:
    event_id = uuid.uuid4()
    headers = build_headers(spec_for(topic.subject), event_id, time=datetime.now(UTC))
    await js.publish(topic.subject, encode_data(topic.data_type(order_id=order_id, amount=1)), headers=headers)
    return event_id


async def deadletters(js: JetStreamContext, topic: Topic, expected: int) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []

    async def arrived() -> bool:
        info = await js.stream_info(topic.topology.deadletter_stream)
        return info.state.messages >= expected

    await wait_until(arrived, what=f"{expected} dead letters")
    for seq in range(1, expected + 1):
        msg = await js.get_msg(topic.topology.deadletter_stream, seq)
        found.append(dict(msg.headers or {}))
    return found


async def platform_notice(js: JetStreamContext, original_event_id: str) -> Msg:
    """The dead-letter notice about `original_event_id` on the platform stream (its ce-subject)."""
    sub = await js.subscribe("portal.platform.message.deadlettered.v1", ordered_consumer=True)
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            if (msg.headers or {}).get("ce-subject") == original_event_id:
                return msg
    finally:
        await sub.unsubscribe()


async def test_failing_event_is_dead_lettered_after_max_deliver_and_others_apply(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic, consumer: str
) -> None:
    before = metric_total("events.deadlettered", consumer=consumer)
    good_before = await send(js, topic, "good-1")
    poison_id = await send(js, topic, "poison")
    good_after = await send(js, topic, "good-2")

    [parked] = await deadletters(js, topic, 1)

    assert parked["ce-id"] == str(poison_id)
    assert parked["portal-deliveries"] == str(MAX_DELIVER)
    assert parked["portal-deadletter-reason"] == "max_deliver"
    assert parked["portal-error"] == "ValueError: cannot apply poison second line"
    assert metric_total("events.deadlettered", consumer=consumer) - before == 1
    notice = await platform_notice(js, str(poison_id))
    assert notice.headers is not None
    assert notice.headers["ce-type"] == "portal.platform.message.deadlettered.v1"
    body = msgspec.json.decode(notice.data, type=MessageDeadLettered)
    assert (body.consumer, body.deliveries, body.original_subject) == (consumer, MAX_DELIVER, topic.subject)
    rows = await pool.fetch(f"SELECT event_id FROM {schema}.applied ORDER BY order_id")
    assert [r["event_id"] for r in rows] == [good_before, good_after]  # the poison's own insert rolled back
    inbox = await pool.fetch(f"SELECT event_id FROM {schema}.event_inbox")
    assert {r["event_id"] for r in inbox} == {good_before, good_after}


async def test_malformed_messages_are_dead_lettered_and_consumption_goes_on(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic, consumer: str
) -> None:
    headers = build_headers(spec_for(topic.subject), uuid.uuid4(), time=datetime.now(UTC))
    no_id = {k: v for k, v in headers.items() if k != "ce-id"}
    await js.publish(topic.subject, b'{"order_id": "x", "amount": 1}', headers=no_id)
    await js.publish(topic.subject, b"not json", headers={**headers, "Nats-Msg-Id": "bad-body"})
    unknown_type = {**headers, "ce-type": f"portal.{topic.service}.nothing.here.v1", "Nats-Msg-Id": "unknown"}
    await js.publish(f"portal.{topic.service}.nothing.here.v1", b"{}", headers=unknown_type)
    good = await send(js, topic, "after-the-bad-ones")

    parked = await deadletters(js, topic, 3)

    assert {h["portal-deadletter-reason"] for h in parked} == {"malformed"}
    assert {h["portal-original-subject"] for h in parked} == {topic.subject, f"portal.{topic.service}.nothing.here.v1"}
    await wait_until(lambda: _applied(pool, schema, good), what="the good event")
    await asyncio.sleep(0.3)
    assert (await js.stream_info(topic.topology.deadletter_stream)).state.messages == 3


async def _applied(pool: asyncpg.Pool, schema: str, event_id: uuid.UUID) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) FROM {schema}.applied WHERE event_id = $1", event_id))
