"""The housekeeping job: expire abandoned uploads, finish deletions, and sweep what no row knows.

Safe to run on every instance: one advisory lock lets a single run proceed at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from portal_core.logging import get_logger

from storage.context import StorageContext, utcnow
from storage.housekeeping.repository import DeletionRepository, SweepRepository
from storage.objects.deletion import carry_out, delete_bytes
from storage.objects.repository import ObjectRepository, UsageRepository

_log = get_logger("storage.housekeeping")
_BATCH = 500
_IDEMPOTENCY_RETENTION = timedelta(hours=24)


@dataclass
class Report:
    expired_uploads: int = 0
    deletions_done: int = 0
    unknown_uploads_aborted: int = 0
    orphan_objects_deleted: int = 0
    failed_pruned: int = 0
    skipped: bool = False


async def run_once(ctx: StorageContext) -> Report:
    """One full pass; `skipped` when another instance holds the lock."""
    async with ctx.pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('storage.housekeeping'))"):
            return Report(skipped=True)
        try:
            report = Report()
            report.expired_uploads = await _expire_pending(ctx)
            report.deletions_done = await _finish_deletions(ctx)
            report.failed_pruned = await _prune(ctx)
            if await SweepRepository(conn).claim_task(
                "bucket_sweep", ctx.settings.storage_bucket_sweep_interval_seconds
            ):
                report.unknown_uploads_aborted = await _abort_unknown_uploads(ctx)
                report.orphan_objects_deleted = await _delete_orphan_objects(ctx)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('storage.housekeeping'))")
    if report != Report():
        _log.info("housekeeping", **vars(report))
    return report


async def _expire_pending(ctx: StorageContext) -> int:
    hold = utcnow() + timedelta(seconds=ctx.settings.storage_upload_url_ttl_seconds)
    total = 0
    while True:
        async with ctx.pool.acquire() as conn, conn.transaction():
            rows = await SweepRepository(conn).expired_pending(_BATCH)
            if not rows:
                return total
            await DeletionRepository(conn).add(rows, "expired", hold_until=hold)
            await ObjectRepository(conn).remove([r.id for r in rows])
            released: dict[str, int] = defaultdict(int)
            for row in rows:
                released[row.tenant_id] += row.size
            for tenant, size in released.items():
                await UsageRepository(conn).release(tenant, size)
        await delete_bytes(ctx.pool, ctx.store, ctx.settings, [r.s3_key for r in rows])
        total += len(rows)


async def _finish_deletions(ctx: StorageContext) -> int:
    async with ctx.pool.acquire() as conn:
        intents = await DeletionRepository(conn).due(utcnow(), _BATCH * 4)
    done = 0
    for start in range(0, len(intents), _BATCH):
        batch = intents[start : start + _BATCH]
        if await carry_out(ctx.pool, ctx.store, ctx.settings, batch):
            done += len(batch)
    return done


async def _prune(ctx: StorageContext) -> int:
    now = utcnow()
    async with ctx.pool.acquire() as conn:
        sweep = SweepRepository(conn)
        await sweep.prune_idempotency_keys(now - _IDEMPOTENCY_RETENTION)
        return await sweep.prune_failed(now - timedelta(seconds=ctx.settings.storage_failed_retention_seconds))


async def _abort_unknown_uploads(ctx: StorageContext) -> int:
    """Multipart uploads no row refers to (a create whose commit failed): abort them after the grace."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.storage_orphan_grace_seconds)
    candidates = [
        (key, upload_id)
        async for key, upload_id, initiated in ctx.store.multipart_uploads(ctx.settings.storage_key_prefix)
        if initiated <= cutoff
    ]
    aborted = 0
    for start in range(0, len(candidates), _BATCH):
        batch = candidates[start : start + _BATCH]
        async with ctx.pool.acquire() as conn:
            known = await SweepRepository(conn).known_upload_ids([u for _, u in batch])
        for key, upload_id in batch:
            if upload_id not in known:
                await ctx.store.abort_multipart(key, upload_id)
                aborted += 1
    return aborted


async def _delete_orphan_objects(ctx: StorageContext) -> int:
    """Bytes under the prefix that neither an object nor a deletion intent knows, older than the grace."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.storage_orphan_grace_seconds)
    deleted = 0
    batch: list[str] = []

    async def sweep(keys: list[str]) -> int:
        async with ctx.pool.acquire() as conn:
            known = await SweepRepository(conn).known_keys(keys)
        orphans = [k for k in keys if k not in known]
        if orphans:
            await ctx.store.delete_keys(orphans)
        return len(orphans)

    async for key, modified in ctx.store.keys(ctx.settings.storage_key_prefix):
        if modified <= cutoff:
            batch.append(key)
        if len(batch) >= _BATCH:
            deleted += await sweep(batch)
            batch = []
    if batch:
        deleted += await sweep(batch)
    return deleted
