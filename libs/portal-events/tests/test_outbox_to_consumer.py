"""The happy path and idempotence: outbox -> relay -> JetStream -> consumer, on real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from events_support import Topic, wait_until
from nats.js import JetStreamContext
from opentelemetry import trace
from portal_contracts import spec_for
from portal_core.telemetry import tracer
from portal_db import Connection
from portal_events import EventConsumer, OutboxRelay, Outgoing, ReceivedEvent, RetryPolicy, publish, publish_many
from portal_events.envelope import build_headers, encode_data

pytestmark = pytest.mark.integration


def recording_handler(schema: str) -> Callable[[Connection, ReceivedEvent], object]:
    async def handle(conn: Connection, event: ReceivedEvent) -> None:
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        order_id = event.data.order_id  # type: ignore[attr-defined]
        await conn.execute(
            f"INSERT INTO {schema}.applied (event_id, order_id, trace_id) VALUES ($1, $2, $3)",
            event.id,
            order_id,
            trace_id,
        )

    return handle


@pytest.fixture
async def relay(pool: asyncpg.Pool, js: JetStreamContext, schema: str) -> AsyncIterator[OutboxRelay]:
    outbox_relay = OutboxRelay(pool, js, schema, poll_interval=0.2)
    outbox_relay.start()
    yield outbox_relay
    await outbox_relay.stop()


@pytest.fixture
async def consumer(pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic) -> AsyncIterator[None]:
    events_consumer = EventConsumer(
        js,
        pool,
        schema=schema,
        durable_name=f"c_{topic.service}",
        stream=topic.stream,
        subjects=[topic.subject],
        handler=recording_handler(schema),  # type: ignore[arg-type]
        retry=RetryPolicy(max_deliver=3, first_delay=0.05),
        topology=topic.topology,
    )
    await events_consumer.start()
    yield
    await events_consumer.stop()


async def applied_rows(pool: asyncpg.Pool, schema: str) -> list[asyncpg.Record]:
    return await pool.fetch(f"SELECT event_id, order_id, trace_id FROM {schema}.applied ORDER BY order_id")


@pytest.mark.usefixtures("relay", "consumer")
async def test_committed_event_arrives_once_with_data_and_trace(pool: asyncpg.Pool, schema: str, topic: Topic) -> None:
    with tracer("test").start_as_current_span("request") as span:
        async with pool.acquire() as conn, conn.transaction():
            event_id = await publish(
                conn, topic.data_type(order_id="o-1", amount=42), schema=schema, tenant_id="t-1", entity_id="o-1"
            )
        request_trace_id = format(span.get_span_context().trace_id, "032x")

    await wait_until(lambda: _count(pool, schema, 1), what="the event to be applied")
    await asyncio.sleep(0.3)  # a second delivery, if any, would land here
    rows = await applied_rows(pool, schema)
    assert [(r["event_id"], r["order_id"], r["trace_id"]) for r in rows] == [(event_id, "o-1", request_trace_id)]
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.event_outbox") == 0


@pytest.mark.usefixtures("relay", "consumer")
async def test_rolled_back_transaction_publishes_nothing(pool: asyncpg.Pool, schema: str, topic: Topic) -> None:
    async def failing_request(conn: Connection) -> None:
        async with conn.transaction():
            await publish(conn, topic.data_type(order_id="ghost", amount=1), schema=schema)
            raise RuntimeError("business rule failed")

    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await failing_request(conn)
        async with conn.transaction():
            await publish(conn, topic.data_type(order_id="real", amount=1), schema=schema)

    await wait_until(lambda: _count(pool, schema, 1), what="the committed event")
    await asyncio.sleep(0.3)
    assert [r["order_id"] for r in await applied_rows(pool, schema)] == ["real"]


@pytest.mark.usefixtures("consumer")
async def test_same_event_id_delivered_twice_is_applied_once(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic
) -> None:
    spec = spec_for(topic.subject)
    event_id = uuid.uuid4()
    body = encode_data(topic.data_type(order_id="twice", amount=2))
    for copy in range(2):
        headers = build_headers(spec, event_id, time=datetime.now(UTC))
        headers["Nats-Msg-Id"] = f"{event_id}-{copy}"  # as if re-published after the dedup window
        await js.publish(topic.subject, body, headers=headers)

    await wait_until(lambda: _count(pool, schema, 1), what="the event")
    await asyncio.sleep(0.5)
    assert len(await applied_rows(pool, schema)) == 1


@pytest.mark.usefixtures("relay", "consumer")
async def test_many_events_in_many_transactions_each_applied_once(
    pool: asyncpg.Pool, schema: str, topic: Topic
) -> None:
    for batch in range(5):
        async with pool.acquire() as conn, conn.transaction():
            for n in range(40):
                await publish(conn, topic.data_type(order_id=f"{batch:02d}-{n:03d}", amount=n), schema=schema)

    await wait_until(lambda: _count(pool, schema, 200), what="200 events")
    await asyncio.sleep(0.3)
    rows = await applied_rows(pool, schema)
    assert len(rows) == len({r["event_id"] for r in rows}) == 200


@pytest.mark.usefixtures("relay", "consumer")
async def test_publish_many_writes_each_event_once_in_one_statement(
    pool: asyncpg.Pool, schema: str, topic: Topic
) -> None:
    events = [Outgoing(topic.data_type(order_id=f"m-{n:02d}", amount=n), tenant_id=f"t-{n % 2}") for n in range(30)]
    async with pool.acquire() as conn, conn.transaction():
        ids = await publish_many(conn, events, schema=schema)
        assert await publish_many(conn, [], schema=schema) == []
        outbox = await conn.fetch(f"SELECT id, headers->>'ce-tenant' AS tenant FROM {schema}.event_outbox ORDER BY seq")
    assert [(r["id"], r["tenant"]) for r in outbox] == [(i, f"t-{n % 2}") for n, i in enumerate(ids)]  # in order

    await wait_until(lambda: _count(pool, schema, 30), what="30 events")
    await asyncio.sleep(0.3)
    rows = await applied_rows(pool, schema)
    assert sorted((r["event_id"], r["order_id"]) for r in rows) == sorted(
        zip(ids, [f"m-{n:02d}" for n in range(30)], strict=True)
    )


async def test_publish_many_refuses_data_of_another_subject(pool: asyncpg.Pool, schema: str, topic: Topic) -> None:
    wrong = Outgoing(topic.data_type(order_id="x", amount=1), subject="portal.identity.user.created.v1")
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(TypeError, match="carries"):
            await publish_many(conn, [wrong], schema=schema)


async def _count(pool: asyncpg.Pool, schema: str, expected: int) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) FROM {schema}.applied") >= expected)


async def test_event_published_in_a_request_records_who_and_from_where(
    pool: asyncpg.Pool, schema: str, topic: Topic
) -> None:
    from portal_core.assertion import Identity
    from portal_core.request_context import begin_request, current_request, end_request
    from portal_events import decode_event

    token = begin_request("req-7", b"curl/8.0")
    try:
        context = current_request()
        assert context is not None
        context.attach_identity(Identity(tenant_id="t-7", user_id="u-7", client_ip="198.51.100.4"))
        with tracer("test").start_as_current_span("request") as span:
            async with pool.acquire() as conn, conn.transaction():
                caller_event = await publish(conn, topic.data_type(order_id="a", amount=1), schema=schema)
                for_other = await publish(
                    conn, topic.data_type(order_id="b", amount=1), schema=schema, actor_id="u-8", outcome="failure"
                )
    finally:
        end_request(token)
    rows = {
        row["id"]: decode_event(row["subject"], json.loads(row["headers"]), bytes(row["payload"]))
        for row in await pool.fetch(f"SELECT id, subject, headers::text AS headers, payload FROM {schema}.event_outbox")
    }
    first, second = rows[caller_event], rows[for_other]
    assert (first.origin.actor_id, first.tenant_id, first.origin.outcome) == ("u-7", "t-7", "success")
    assert (first.origin.client_ip, first.origin.user_agent, first.origin.request_id) == (
        "198.51.100.4",
        "curl/8.0",
        "req-7",
    )
    assert first.trace_id == format(span.get_span_context().trace_id, "032x")
    assert (second.origin.actor_id, second.origin.outcome, second.tenant_id) == ("u-8", "failure", "t-7")
