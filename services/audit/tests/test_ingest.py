"""Ingest: every event of every stream recorded once, with who/what/where, secrets masked, unknown types kept."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import msgspec
import pytest
from audit.ingest.runner import StreamIngester, durable_name
from audit.settings import AuditSettings
from audit_support import event_headers, publish_events, wait_until
from nats.js import JetStreamContext
from portal_core.testing import install_test_telemetry
from portal_events import ensure_stream

pytestmark = pytest.mark.integration
TELEMETRY = install_test_telemetry()


@dataclass
class Streams:
    prefix: str
    settings: AuditSettings
    names: list[str]

    async def add(self, js: JetStreamContext, service: str) -> str:
        name = f"{self.prefix}_{service.upper()}"
        await ensure_stream(js, name, [f"portal.{service}.>"], duplicate_window=120)
        self.names.append(name)
        return name


@pytest.fixture
async def streams(js: JetStreamContext, settings: AuditSettings) -> AsyncIterator[Streams]:
    suffix = uuid.uuid4().hex[:8].upper()
    prefix = f"AT{suffix}"
    isolated = msgspec.structs.replace(
        settings,
        audit_stream_prefix=prefix,
        audit_deadletter_stream=f"{prefix}DL",
        audit_deadletter_subject_prefix=f"portal.dl-at{suffix.lower()}",
        audit_discovery_interval_seconds=0.3,
        audit_consumer_prefix=f"audit{suffix.lower()}",
    )
    created = Streams(prefix, isolated, [])
    yield created
    for name in [*created.names, f"{prefix}DL"]:
        with contextlib.suppress(Exception):  # a stream the test never got to create
            await js.delete_stream(name)


async def records_of(pool: asyncpg.Pool, tenant: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM audit.records WHERE tenant_id = $1 ORDER BY seq", tenant)


async def test_every_stream_is_recorded_once_with_origin_and_redacted_body(
    pool: asyncpg.Pool, js: JetStreamContext, streams: Streams, tenant: str
) -> None:
    service = f"s{uuid.uuid4().hex[:8]}"
    await streams.add(js, service)
    ingester = StreamIngester(js, pool, streams.settings)
    stop = asyncio.Event()
    runner = asyncio.create_task(ingester.run(stop))
    try:
        event_type = f"portal.{service}.user.signed_in.v1"  # registered nowhere: audited all the same
        trace_id = uuid.uuid4().hex
        event_id = uuid.uuid4()
        headers = event_headers(
            event_type,
            event_id=event_id,
            tenant_id=tenant,
            entity_id="user-7",
            actor_id="user-7",
            outcome="failure",
            trace_id=trace_id,
            client_ip="203.0.113.9",
            user_agent="curl/8",
        )
        body = b'{"email": "a@example.com", "password": "hunter2", "nested": {"apiKey": "k", "input_tokens": 3}}'
        await js.publish(event_type, body, headers=headers)
        await js.publish(event_type, body, headers={**headers, "Nats-Msg-Id": "a-redelivery"})  # same ce-id again

        later_service = f"l{uuid.uuid4().hex[:8]}"  # a service that appears while ingest runs
        await streams.add(js, later_service)
        later_ids = await publish_events(js, f"portal.{later_service}.thing.made.v1", tenant, 5)

        await wait_until(lambda: _count(pool, tenant, 6), what="six records")
        await asyncio.sleep(0.5)  # a second copy, if any, would land now
    finally:
        stop.set()
        await runner
        await ingester.stop()

    rows = await records_of(pool, tenant)
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert {row["id"] for row in rows} == {event_id, *later_ids}
    first = next(row for row in rows if row["id"] == event_id)
    assert first["action"] == event_type
    assert (first["actor_id"], first["outcome"], first["target_type"], first["target_id"]) == (
        "user-7",
        "failure",
        f"{service}.user",
        "user-7",
    )
    assert (first["client_ip"], first["user_agent"], first["trace_id"]) == ("203.0.113.9", "curl/8", trace_id)
    assert first["received_at"] >= first["occurred_at"]
    recorded = msgspec.json.decode(first["body"])
    assert recorded == {
        "email": "a@example.com",
        "password": "[redacted]",
        "nested": {"apiKey": "[redacted]", "input_tokens": 3},
    }
    assert b"hunter2" not in first["body"].encode()


async def _count(pool: asyncpg.Pool, tenant: str, expected: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM audit.records WHERE tenant_id = $1", tenant) >= expected)


async def test_an_event_found_in_two_streams_is_recorded_once(
    pool: asyncpg.Pool, js: JetStreamContext, streams: Streams, tenant: str
) -> None:
    first, second = f"f{uuid.uuid4().hex[:8]}", f"g{uuid.uuid4().hex[:8]}"
    await streams.add(js, first)
    await streams.add(js, second)
    event_id = uuid.uuid4()
    for service in (first, second):
        subject = f"portal.{service}.thing.copied.v1"
        await js.publish(subject, b"{}", headers=event_headers(subject, event_id=event_id, tenant_id=tenant))
    others = await publish_events(js, f"portal.{second}.thing.made.v1", tenant, 3)
    ingester = StreamIngester(js, pool, streams.settings)
    stop = asyncio.Event()
    runner = asyncio.create_task(ingester.run(stop))
    try:
        await wait_until(lambda: _count(pool, tenant, 4), what="four records")
        await asyncio.sleep(1.0)  # a failing duplicate would be retried (and its batch redone) meanwhile
    finally:
        stop.set()
        await runner
        await ingester.stop()
    rows = await records_of(pool, tenant)
    assert sorted(str(row["id"]) for row in rows) == sorted(str(i) for i in [event_id, *others])
    durables = [durable_name(streams.settings.audit_consumer_prefix, name) for name in streams.names]
    failed = sum(TELEMETRY.metric_total("events.consumed", consumer=d, outcome="failed") for d in durables)
    assert failed == 0, "the copy in the second stream was treated as a failure (it would end dead-lettered)"
