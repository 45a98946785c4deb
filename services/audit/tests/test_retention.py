"""Retention removes a tenant's expired records and leaves a chain that still verifies from its anchor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest
from audit.chain import service as chain
from audit.chain.verify import verify_tenant
from audit.retention import repository
from audit.retention.schedule import _LOCK_KEY, run_once_if_free
from audit.retention.service import apply_retention
from audit_support import run_audit
from test_tamper import SIGNER, content

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


async def seed(pool: asyncpg.Pool, tenant: str, ages_in_days: list[int]) -> None:
    """One batch per record, oldest first, each received `age` days ago."""
    for n, age in enumerate(ages_in_days):
        moment = NOW - timedelta(days=age)
        async with pool.acquire() as conn, conn.transaction():
            record = msgspec.structs.replace(content(tenant, n), occurred_at=moment, received_at=moment)
            await chain.append(conn, [record], SIGNER)


async def seqs(pool: asyncpg.Pool, tenant: str) -> list[int]:
    rows = await pool.fetch("SELECT seq FROM audit.records WHERE tenant_id = $1 ORDER BY seq", tenant)
    return [row["seq"] for row in rows]


async def test_expired_records_go_and_the_rest_verifies_from_the_anchor(pool: asyncpg.Pool, tenant: str) -> None:
    await seed(pool, tenant, [90, 80, 70, 40, 31, 29, 10, 1])
    keeps_everything = f"{tenant}-default"
    await seed(pool, keeps_everything, [90, 1])
    async with pool.acquire() as conn:
        await repository.set_retention_days(conn, tenant, 30)

    results = {r.tenant_id: r for r in await apply_retention(pool, SIGNER, default_days=365, now=NOW)}

    assert (results[tenant].removed, results[tenant].anchor_seq) == (5, 5)
    assert results[keeps_everything].removed == 0
    assert await seqs(pool, tenant) == [6, 7, 8]
    async with pool.acquire() as conn:
        report = await verify_tenant(conn, tenant, SIGNER)
    assert report.ok, report
    assert (report.first_seq, report.last_seq, report.records_checked) == (6, 8, 3)

    await pool.execute("DELETE FROM audit.records WHERE tenant_id = $1 AND seq = 6", tenant)
    async with pool.acquire() as conn:
        broken = await verify_tenant(conn, tenant, SIGNER)
    assert broken.problem is not None
    assert (broken.problem.kind, broken.problem.seq) == ("removed", 6)  # the anchor still pins where the chain starts


async def test_a_tampered_expired_prefix_is_not_laundered_into_an_anchor(pool: asyncpg.Pool, tenant: str) -> None:
    await seed(pool, tenant, [90, 80, 1])
    await pool.execute("UPDATE audit.records SET body = '{}' WHERE tenant_id = $1 AND seq = 1", tenant)
    async with pool.acquire() as conn:
        await repository.set_retention_days(conn, tenant, 30)
    results = {r.tenant_id: r for r in await apply_retention(pool, SIGNER, default_days=365, now=NOW)}
    assert results[tenant].refused == "altered"
    assert await seqs(pool, tenant) == [1, 2, 3]


async def test_retention_command_runs_once(pool: asyncpg.Pool, database_url: str, tenant: str) -> None:
    await seed(pool, tenant, [400, 1])
    result = run_audit(["retention"], {"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert f'"tenant_id":"{tenant}","removed":1' in result.stdout
    assert await seqs(pool, tenant) == [2]


async def test_scheduled_retention_runs_in_one_replica_at_a_time(pool: asyncpg.Pool, tenant: str) -> None:
    await seed(pool, tenant, [400, 1])
    async with pool.acquire() as other_replica:
        await other_replica.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        assert await run_once_if_free(pool, SIGNER, 365) is False
        assert await seqs(pool, tenant) == [1, 2]
        await other_replica.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    assert await run_once_if_free(pool, SIGNER, 365) is True
    assert await seqs(pool, tenant) == [2]
