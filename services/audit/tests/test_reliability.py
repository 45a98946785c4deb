"""Every event recorded once and every chain verifying, after the ingester is killed, NATS stops and
PostgreSQL restarts, each in the middle of ingesting (a private NATS and a private PostgreSQL cluster)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from audit_support import publish_events, run_audit, spawn, wait_until
from nats.js import JetStreamContext
from portal_db.testing import PrivatePostgres
from portal_events import connect_nats, ensure_service_stream
from portal_events.testing import PrivateNatsServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TENANTS = ("tenant-a", "tenant-b", "tenant-c")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
async def audit_db(private_postgres: PrivatePostgres) -> str:
    admin = await asyncpg.connect(private_postgres.admin_dsn)
    name = f"audit_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = private_postgres.admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    migrated = run_audit(["migrate"], {"DATABASE_URL": url})
    assert migrated.returncode == 0, migrated.stderr
    return url


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[PrivateNatsServer]:
    server = PrivateNatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


class Ingester:
    """`python -m audit ingest` as a process that the test can kill and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = spawn("ingest", self.env, self.log)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


async def recorded(url: str) -> int:
    # A fresh connection each time: the test's own connections die with the PostgreSQL restart too.
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit.records"))
    finally:
        await conn.close()


async def publish_round(js: JetStreamContext, subject: str, per_tenant: int, start: int) -> set[uuid.UUID]:
    rounds = await asyncio.gather(*(publish_events(js, subject, t, per_tenant, start=start) for t in TENANTS))
    return {event_id for ids in rounds for event_id in ids}


async def test_kill_nats_stop_and_postgres_restart_lose_nothing_and_duplicate_nothing(
    audit_db: str, private_nats: PrivateNatsServer, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    service = f"r{uuid.uuid4().hex[:6]}"
    subject = f"portal.{service}.order.placed.v1"
    nc = await connect_nats(private_nats.url, "audit-reliability-test")
    js = nc.jetstream()
    await ensure_service_stream(js, service)
    env = {
        "DATABASE_URL": audit_db,
        "NATS_URL": private_nats.url,
        "AUDIT_BATCH_SIZE": "40",
        "AUDIT_ACK_WAIT_SECONDS": "3",
        "AUDIT_DISCOVERY_INTERVAL_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    ingester = Ingester(env, tmp_path / "ingest.log")
    published: set[uuid.UUID] = set()
    try:
        published |= await publish_round(js, subject, 1500, 0)
        ingester.start()
        await wait_until(lambda: _at_least(audit_db, 300), what="ingest to start recording")
        ingester.kill()
        at_kill = await recorded(audit_db)
        assert 0 < at_kill < len(published), "the kill did not land mid-ingest"
        ingester.start()

        published |= await publish_round(js, subject, 1000, 1500)
        await wait_until(lambda: _at_least(audit_db, at_kill + 600), what="ingest to resume")
        private_nats.stop()
        at_nats_stop = await recorded(audit_db)
        assert at_nats_stop < len(published), "NATS stopped after everything was recorded"
        await asyncio.sleep(2.0)
        private_nats.start()

        await wait_until(lambda: _at_least(audit_db, at_nats_stop + 300), timeout=40, what="ingest after NATS")
        published |= await publish_round(js, subject, 1000, 2500)
        private_postgres.restart()
        assert 0 <= await recorded(audit_db) < len(published), "PostgreSQL restarted after everything was recorded"

        await wait_until(lambda: _at_least(audit_db, len(published)), timeout=90, what="every event recorded")
        await asyncio.sleep(4.0)  # past ack_wait: an unacked message would be redelivered now
    finally:
        ingester.stop()
        await nc.close()

    conn = await asyncpg.connect(audit_db)
    try:
        ids = [row["id"] for row in await conn.fetch("SELECT id FROM audit.records")]
        per_tenant = await conn.fetch("SELECT tenant_id, count(*) AS n, max(seq) AS top FROM audit.records GROUP BY 1")
    finally:
        await conn.close()
    assert len(ids) == len(set(ids)) == len(published)
    assert set(ids) == published
    assert {(row["tenant_id"], row["n"], row["top"]) for row in per_tenant} == {(t, 3500, 3500) for t in TENANTS}
    verified = run_audit(["verify"], {"DATABASE_URL": audit_db})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count('"ok":true') == len(TENANTS)


async def _at_least(url: str, expected: int) -> bool:
    return await recorded(url) >= expected
