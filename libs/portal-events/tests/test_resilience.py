"""Nothing lost, nothing applied twice: NATS down under the relay, a consumer killed mid-batch."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from events_support import PrivateNatsServer, Topic, order_placed_type, wait_until
from nats.js import JetStreamContext
from portal_core.test_infra import nats_url
from portal_db import create_pool
from portal_db.testing import PrivatePostgres
from portal_events import (
    OutboxRelay,
    Topology,
    connect_nats,
    ensure_service_stream,
    migrate_event_tables,
    publish,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def write_events(pool: asyncpg.Pool, schema: str, topic_type: type, prefix: str, count: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for n in range(count):
            await publish(conn, topic_type(order_id=f"{prefix}-{n:04d}", amount=n), schema=schema)


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[PrivateNatsServer]:
    server = PrivateNatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


async def test_relay_keeps_events_while_nats_is_down_and_sends_each_once(
    pool: asyncpg.Pool, schema: str, private_nats: PrivateNatsServer
) -> None:
    service = f"r{schema[2:]}"
    data_type = order_placed_type(service)
    nc = await connect_nats(private_nats.url, "relay-test")
    js = nc.jetstream()
    stream = await ensure_service_stream(js, service, Topology())
    relay = OutboxRelay(pool, js, schema, poll_interval=0.2, ack_timeout=1.0, max_backoff=0.5)
    relay.start()
    try:
        await write_events(pool, schema, data_type, "before", 50)
        await wait_until(lambda: _stored(js, stream, 50), what="the first 50 events")

        private_nats.stop()
        for batch in range(4):
            await write_events(pool, schema, data_type, f"down{batch}", 25)
        await asyncio.sleep(2.0)  # the relay fails a few times meanwhile
        assert await pool.fetchval(f"SELECT count(*) FROM {schema}.event_outbox") == 100
        private_nats.start()

        await wait_until(lambda: _outbox_empty(pool, schema), timeout=30, what="the outbox to drain")
        await asyncio.sleep(0.5)
        info = await js.stream_info(stream)
        assert info.state.messages == 150  # JetStream dropped the re-sent copies by Nats-Msg-Id
        ids = {(await js.get_msg(stream, seq)).headers["ce-id"] for seq in range(1, 151)}  # type: ignore[index]
        assert len(ids) == 150
    finally:
        await relay.stop()
        await nc.close()


async def test_consumer_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    pool: asyncpg.Pool, js: JetStreamContext, schema: str, topic: Topic, database_url: str
) -> None:
    relay = OutboxRelay(pool, js, schema, poll_interval=0.2)
    relay.start()
    total = 400
    for batch in range(4):
        await write_events(pool, schema, topic.data_type, f"b{batch}", total // 4)
    await wait_until(lambda: _outbox_empty(pool, schema), what="the outbox to drain")
    await relay.stop()

    suffix = topic.service[1:]
    worker_args = [database_url, nats_url(), schema, topic.service, suffix]
    first = _spawn_worker(worker_args)
    try:
        await wait_until(lambda: _applied_at_least(pool, schema, 60), what="the first worker to apply events")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    killed_at = await pool.fetchval(f"SELECT count(*) FROM {schema}.applied")
    assert killed_at < total, "the worker finished before it was killed; the test proved nothing"

    second = _spawn_worker(worker_args)
    try:
        await wait_until(lambda: _applied_at_least(pool, schema, total), timeout=60, what="all events applied")
        await asyncio.sleep(3.0)  # past ack_wait: any unacked message would be redelivered now
    finally:
        second.terminate()
        second.wait(timeout=10)

    rows = await pool.fetch(f"SELECT order_id, count(*) AS n FROM {schema}.applied GROUP BY order_id")
    assert len(rows) == total
    assert max(r["n"] for r in rows) == 1


def _spawn_worker(args: list[str]) -> subprocess.Popen[bytes]:
    script = Path(__file__).parent / "consumer_worker.py"
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.DEVNULL)


async def _stored(js: JetStreamContext, stream: str, expected: int) -> bool:
    return bool((await js.stream_info(stream)).state.messages >= expected)


async def _outbox_empty(pool: asyncpg.Pool, schema: str) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) FROM {schema}.event_outbox") == 0)


async def _applied_at_least(pool: asyncpg.Pool, schema: str, expected: int) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) FROM {schema}.applied") >= expected)


async def test_relay_keeps_publishing_after_postgresql_restarts(js: JetStreamContext, tmp_path: Path) -> None:
    with PrivatePostgres() as server:
        pool = await create_pool(server.admin_dsn, name="relay-restart", max_size=4)
        schema = f"s_{uuid.uuid4().hex[:10]}"
        async with pool.acquire() as conn:
            await migrate_event_tables(conn, schema)
        service = f"r{schema[2:]}"
        data_type = order_placed_type(service)
        stream = await ensure_service_stream(js, service, Topology())
        relay = OutboxRelay(pool, js, schema, poll_interval=0.2, max_backoff=0.5)
        relay.start()
        try:
            await write_events(pool, schema, data_type, "before", 20)
            await wait_until(lambda: _stored(js, stream, 20), what="the events written before the restart")
            server.restart()  # drops every connection, the relay's LISTEN connection included
            await wait_until(lambda: _can_write(pool, schema, data_type), timeout=30, what="PostgreSQL to be back")
            await wait_until(lambda: _stored(js, stream, 21), timeout=30, what="events written after the restart")
        finally:
            await relay.stop()
            await pool.close()
            await js.delete_stream(stream)


async def _can_write(pool: asyncpg.Pool, schema: str, data_type: type) -> bool:
    try:
        await write_events(pool, schema, data_type, f"after-{uuid.uuid4().hex[:6]}", 1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True
