"""Real PostgreSQL (a fresh database per session) and real NATS JetStream, with unique names per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from portal_core.test_infra import nats_url
from portal_db import create_pool
from portal_db.testing import temporary_database
from portal_events import Topology, ensure_deadletter_stream, ensure_service_stream, migrate_event_tables

sys.path.insert(0, str(Path(__file__).parent))
from events_support import Topic, order_placed_type


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database(prefix="portal_events_test") as url:
        yield url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    db_pool = await create_pool(database_url, min_size=2, max_size=8, name="events-test")
    yield db_pool
    await db_pool.close()


@pytest.fixture
async def schema(pool: asyncpg.Pool) -> str:
    """A schema with the event tables and an `applied` table where test handlers record their effect."""
    name = f"s_{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        await migrate_event_tables(conn, name)
        await conn.execute(f"CREATE TABLE {name}.applied (event_id uuid NOT NULL, order_id text, trace_id text)")
    return name


@pytest.fixture(scope="session")
async def nc() -> AsyncIterator[Client]:
    client = await nats.connect(nats_url(), name="portal-events-tests")
    yield client
    await client.drain()


@pytest.fixture(scope="session")
def js(nc: Client) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
async def topic(js: JetStreamContext) -> AsyncIterator[Topic]:
    suffix = uuid.uuid4().hex[:10]
    service = f"t{suffix}"
    topology = Topology(
        deadletter_stream=f"PORTAL_DL_{suffix.upper()}", deadletter_subject_prefix=f"portal.dl-{suffix}"
    )
    stream = await ensure_service_stream(js, service, topology)
    await ensure_deadletter_stream(js, topology)
    yield Topic(service, stream, f"portal.{service}.order.placed.v1", order_placed_type(service), topology)
    for name in (stream, topology.deadletter_stream):
        await js.delete_stream(name)
