"""The inbox forgets events older than its retention, and a running consumer prunes it by itself."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest
from events_support import Topic, wait_until
from nats.js import JetStreamContext
from portal_events import EventConsumer
from portal_events.inbox import prune_inbox

pytestmark = pytest.mark.integration


async def add_inbox_rows(pool: asyncpg.Pool, schema: str, consumer: str, count: int, age: timedelta) -> None:
    await pool.executemany(
        f"INSERT INTO {schema}.event_inbox (consumer, event_id, received_at) VALUES ($1, $2, now() - $3::interval)",
        [(consumer, uuid.uuid4(), age) for _ in range(count)],
    )


async def inbox_count(pool: asyncpg.Pool, schema: str, consumer: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {schema}.event_inbox WHERE consumer = $1", consumer))


async def test_prune_deletes_only_old_rows_of_that_consumer(pool: asyncpg.Pool, schema: str) -> None:
    await add_inbox_rows(pool, schema, "billing", 25, timedelta(days=8))
    await add_inbox_rows(pool, schema, "billing", 5, timedelta(hours=1))
    await add_inbox_rows(pool, schema, "mailer", 7, timedelta(days=8))

    pruned = await prune_inbox(pool, schema, "billing", timedelta(days=7), batch_size=10)  # several batches

    assert pruned == 25
    assert await inbox_count(pool, schema, "billing") == 5
    assert await inbox_count(pool, schema, "mailer") == 7, "another consumer's inbox is its own business"


async def test_a_running_consumer_prunes_its_inbox(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic
) -> None:
    durable = f"c_{topic.service}"
    await add_inbox_rows(pool, schema, durable, 12, timedelta(hours=2))
    await add_inbox_rows(pool, schema, durable, 3, timedelta(seconds=0))

    async def ignore(conn: object, event: object) -> None:
        return None

    consumer = EventConsumer(
        js, pool, schema=schema, durable_name=durable, stream=topic.stream, subjects=[topic.subject],
        handler=ignore, topology=topic.topology, inbox_retention=timedelta(hours=1), inbox_prune_interval=0.1,
    )  # fmt: skip
    await consumer.start()
    try:
        await wait_until(lambda: _count_is(pool, schema, durable, 3), what="the old inbox rows to be pruned")
    finally:
        await consumer.stop()


async def _count_is(pool: asyncpg.Pool, schema: str, consumer: str, expected: int) -> bool:
    return await inbox_count(pool, schema, consumer) == expected
