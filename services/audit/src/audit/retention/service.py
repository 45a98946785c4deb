"""Retention: drop a tenant's expired records and leave a signed anchor the remaining chain verifies from.

Before the anchor is signed, the part being dropped is verified: retention never launders a tampered
prefix into a trusted starting point. A tenant whose chain does not verify keeps its records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from portal_core.logging import get_logger

from audit.chain import repository as chain_repository
from audit.chain.service import ANCHOR
from audit.chain.signing import HeadSigner
from audit.chain.verify import verify_tenant
from audit.retention import repository

_log = get_logger("audit.retention")
DELETE_CHUNK = 5000


@dataclass(frozen=True)
class RetentionResult:
    tenant_id: str
    removed: int
    anchor_seq: int | None
    refused: str | None = None


async def apply_retention(
    pool: asyncpg.Pool, signer: HeadSigner, default_days: int, now: datetime | None = None
) -> list[RetentionResult]:
    """Run retention for every tenant once."""
    moment = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        tenants = await chain_repository.tenants(conn)
    return [await _retain_tenant(pool, signer, tenant, default_days, moment) for tenant in tenants]


async def _retain_tenant(
    pool: asyncpg.Pool, signer: HeadSigner, tenant_id: str, default_days: int, now: datetime
) -> RetentionResult:
    async with pool.acquire() as conn:
        days = await repository.retention_days(conn, tenant_id) or default_days
        expired = await repository.last_expired(conn, tenant_id, now - timedelta(days=days))
        if expired is None:
            return RetentionResult(tenant_id, 0, None)
        report = await verify_tenant(conn, tenant_id, signer)
        problem = report.problem
        if problem is not None and problem.seq <= expired[0] + 1:
            _log.error("retention refused: chain does not verify", tenant_id=tenant_id, problem=problem.kind)
            return RetentionResult(tenant_id, 0, None, refused=problem.kind)
        seq, head = expired
        async with conn.transaction():
            anchor = signer.sign(ANCHOR, tenant_id, seq, head, now)
            await chain_repository.insert_signed(conn, "chain_anchors", [anchor])
        removed = 0
        while True:  # short transactions: ingest keeps appending meanwhile
            async with conn.transaction():
                count = await repository.delete_up_to(conn, tenant_id, seq, DELETE_CHUNK)
            removed += count
            if count < DELETE_CHUNK:
                break
        await chain_repository.prune_checkpoints(conn, tenant_id, seq)
    _log.info("retention applied", tenant_id=tenant_id, removed=removed, anchor_seq=seq)
    return RetentionResult(tenant_id, removed, seq)
