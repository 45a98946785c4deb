"""Completing an upload: every byte is checked in S3 (existence, size, SHA-256) before it is ready."""

from __future__ import annotations

import asyncio
import math
from uuid import UUID

from portal_core.assertion import Identity
from portal_db import Connection

from storage.context import StorageContext
from storage.errors import ChecksumMismatch, InvalidState, UploadIncomplete
from storage.housekeeping.repository import DeletionRepository
from storage.objects import events as object_events
from storage.objects.deletion import delete_bytes
from storage.objects.repository import ObjectRepository, ObjectRow, UsageRepository
from storage.objects.service import tenant_of
from storage.s3 import Head, UploadGone, sha256_b64
from storage.uploads.schemas import UploadRead
from storage.uploads.service import check_pending, read_upload


async def _assemble(ctx: StorageContext, row: ObjectRow) -> None:
    """Complete the multipart upload once every part is there with the planned sizes."""
    assert row.part_size is not None
    assert row.multipart_upload_id is not None
    try:
        parts = await ctx.store.all_parts(row.s3_key, row.multipart_upload_id)
    except UploadGone:
        if await ctx.store.head(row.s3_key) is not None:
            return  # completed by an earlier call that did not get to mark it ready
        raise InvalidState("The upload was aborted or has expired") from None
    count = math.ceil(row.size / row.part_size)
    have = {p.number: p for p in parts}
    missing = [n for n in range(1, count + 1) if n not in have]
    if missing:
        shown = ", ".join(map(str, missing[:20]))
        raise UploadIncomplete(f"{len(missing)} of {count} parts are missing: {shown}")
    chosen = [have[n] for n in range(1, count + 1)]
    if sum(p.size for p in chosen) != row.size or any(p.size != row.part_size for p in chosen[:-1]):
        await _fail(ctx, row, "parts do not add up to the declared size")
        raise ChecksumMismatch("The parts do not add up to the declared size")
    await ctx.store.complete_multipart(row.s3_key, row.multipart_upload_id, chosen)


async def complete(ctx: StorageContext, identity: Identity, upload_id: UUID) -> UploadRead:
    tenant = tenant_of(identity)
    async with ctx.pool.acquire() as conn:
        # The key follows from tenant and id, so the S3 HEAD runs alongside the row read.
        # Both finish before either failure is raised: the connection must be idle when it goes back.
        got_row, got_head = await asyncio.gather(
            ObjectRepository(conn).get(tenant, upload_id),
            ctx.store.head(ctx.object_key(tenant, upload_id)),
            return_exceptions=True,
        )
        if isinstance(got_row, BaseException):
            raise got_row
        existing = got_row
        if existing is not None and existing.status == "ready" and existing.method != "copy":
            return read_upload(existing)  # completing twice answers the same, whatever S3 says now
        row = check_pending(existing)  # another tenant's id is a 404, whatever S3 answered
        if isinstance(got_head, BaseException):
            raise got_head
        head = got_head
        # The fast path: S3 verified the SHA-256 the POST policy pinned, and the size matches.
        s3_verified = head is not None and head.size == row.size and head.sha256_b64 == sha256_b64(row.sha256)
        if row.method == "post" and s3_verified:
            return await _mark_ready(conn, row)
    return await _verify_then_mark_ready(ctx, row, head)


async def _verify_then_mark_ready(ctx: StorageContext, row: ObjectRow, head: Head | None) -> UploadRead:
    if row.method == "multipart":
        await _assemble(ctx, row)
        head = await ctx.store.head(row.s3_key)
    if head is None:
        raise UploadIncomplete("No bytes have arrived for this upload yet")
    if head.size != row.size:
        await _fail(ctx, row, f"stored {head.size} bytes, declared {row.size}")
        raise ChecksumMismatch(f"S3 holds {head.size} bytes, {row.size} were declared")
    # S3 verified the SHA-256 when the upload carried it (POST policy); otherwise read the bytes back.
    verified = head.sha256_b64 == sha256_b64(row.sha256) if head.sha256_b64 else None
    if verified is None:
        verified = await ctx.store.sha256_hex(row.s3_key) == row.sha256
    if not verified:
        await _fail(ctx, row, "SHA-256 does not match")
        raise ChecksumMismatch("The stored bytes do not have the declared SHA-256")
    async with ctx.pool.acquire() as conn:
        return await _mark_ready(conn, row)


async def _mark_ready(conn: Connection, row: ObjectRow) -> UploadRead:
    async with conn.transaction():
        repo = ObjectRepository(conn)
        ready = await repo.mark_ready(row.tenant_id, row.id)
        if ready is None:
            current = await repo.get(row.tenant_id, row.id)
            if current is not None and current.status == "ready":
                return read_upload(current)  # a concurrent complete got there first
            raise InvalidState("The upload was aborted while it completed")
        await object_events.object_created(conn, ready)
    return read_upload(ready)


async def _fail(ctx: StorageContext, row: ObjectRow, reason: str) -> None:
    """Keep the row as `failed` (so the client sees why), release its bytes and quota."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        failed = await ObjectRepository(conn).mark_failed(row.tenant_id, row.id, reason)
        if failed is None:
            return
        await DeletionRepository(conn).add([row], "failed")
        await UsageRepository(conn).release(row.tenant_id, row.size)
    await delete_bytes(ctx.pool, ctx.store, ctx.settings, [row.s3_key])
