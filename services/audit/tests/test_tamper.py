"""Tamper evidence: verify names the first record altered, removed or reordered, and a dropped tail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from audit.chain import service as chain
from audit.chain.hashing import RecordContent
from audit.chain.signing import HeadSigner
from audit.chain.verify import verify_tenant
from audit.settings import DEV_CHECKPOINT_SIGNING_KEY
from audit_support import run_audit

pytestmark = pytest.mark.integration
SIGNER = HeadSigner(DEV_CHECKPOINT_SIGNING_KEY)


def content(tenant: str, n: int) -> RecordContent:
    now = datetime.now(UTC)
    return RecordContent(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        action="portal.test.thing.done.v1",
        actor_id=f"user-{n}",
        target_type="test.thing",
        target_id=f"thing-{n}",
        outcome="success",
        client_ip=None,
        user_agent=None,
        trace_id=None,
        request_id=None,
        source="/portal/test",
        occurred_at=now,
        received_at=now,
        body=f'{{"n":{n}}}',
    )


async def build_chain(pool: asyncpg.Pool, tenant: str, batches: int = 3, per_batch: int = 4) -> None:
    """`batches` appends (each signs a checkpoint), interleaved with another tenant's records."""
    for b in range(batches):
        async with pool.acquire() as conn, conn.transaction():
            other = content(f"{tenant}-other", b)
            await chain.append(conn, [*(content(tenant, b * per_batch + i) for i in range(per_batch)), other], SIGNER)


async def problem(pool: asyncpg.Pool, tenant: str) -> tuple[str, int] | None:
    async with pool.acquire() as conn:
        report = await verify_tenant(conn, tenant, SIGNER)
    return None if report.problem is None else (report.problem.kind, report.problem.seq)


async def test_a_clean_chain_verifies(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    async with pool.acquire() as conn:
        report = await verify_tenant(conn, tenant, SIGNER)
    assert report.ok, report
    assert (report.records_checked, report.first_seq, report.last_seq, report.checkpoint_seq) == (12, 1, 12, 12)


async def test_an_altered_body_is_named(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    await pool.execute("UPDATE audit.records SET body = '{\"n\":99}' WHERE tenant_id = $1 AND seq = 5", tenant)
    assert await problem(pool, tenant) == ("altered", 5)


async def test_a_deleted_row_is_named(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    await pool.execute("DELETE FROM audit.records WHERE tenant_id = $1 AND seq = 7", tenant)
    assert await problem(pool, tenant) == ("removed", 7)


async def test_a_deleted_and_renumbered_row_is_named(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM audit.records WHERE tenant_id = $1 AND seq = 7", tenant)
        await conn.execute("UPDATE audit.records SET seq = -seq WHERE tenant_id = $1 AND seq > 7", tenant)
        await conn.execute("UPDATE audit.records SET seq = -seq - 1 WHERE tenant_id = $1 AND seq < 0", tenant)
    assert await problem(pool, tenant) == ("removed", 7)


async def test_two_swapped_rows_are_named(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE audit.records SET seq = 0 WHERE tenant_id = $1 AND seq = 3", tenant)
        await conn.execute("UPDATE audit.records SET seq = 3 WHERE tenant_id = $1 AND seq = 4", tenant)
        await conn.execute("UPDATE audit.records SET seq = 4 WHERE tenant_id = $1 AND seq = 0", tenant)
    assert await problem(pool, tenant) == ("reordered", 3)


async def test_dropped_newest_rows_are_named(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    await pool.execute("DELETE FROM audit.records WHERE tenant_id = $1 AND seq > 9", tenant)
    await pool.execute("UPDATE audit.chain_heads SET seq = 9 WHERE tenant_id = $1", tenant)  # cover tracks, too
    assert await problem(pool, tenant) == ("truncated", 10)


async def test_a_forged_checkpoint_is_named(pool: asyncpg.Pool, tenant: str) -> None:
    await build_chain(pool, tenant)
    await pool.execute("DELETE FROM audit.records WHERE tenant_id = $1 AND seq > 9", tenant)
    # Moving the newest checkpoint down to the new tail needs the signing key: without it the signature fails.
    await pool.execute("UPDATE audit.checkpoints SET seq = 9 WHERE tenant_id = $1 AND seq = 12", tenant)
    assert (await problem(pool, tenant) or ("", 0))[0] == "forged_checkpoint"


async def test_verify_command_reports_each_tenant_and_fails_on_a_broken_chain(
    pool: asyncpg.Pool, database_url: str, tenant: str
) -> None:
    await build_chain(pool, tenant)
    env = {"DATABASE_URL": database_url}
    clean = run_audit(["verify", "--tenant", tenant], env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert '"ok":true' in clean.stdout
    await pool.execute("UPDATE audit.records SET actor_id = 'someone-else' WHERE tenant_id = $1 AND seq = 2", tenant)
    broken = run_audit(["verify", "--tenant", tenant], env)
    assert broken.returncode == 1
    assert '"kind":"altered","seq":2' in broken.stdout
