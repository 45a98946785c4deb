"""Uploads: bytes go straight to S3 (presigned POST or multipart); completion verifies them first."""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import UUID

from portal_core.assertion import Identity
from portal_core.errors import BadRequest
from portal_core.ids import new_id

from storage.context import StorageContext, utcnow
from storage.errors import InvalidState, PathTaken, UploadNotFound, UploadTooLarge
from storage.housekeeping.repository import DeletionRepository
from storage.objects import quota
from storage.objects.deletion import delete_bytes
from storage.objects.repository import NewObject, ObjectRepository, ObjectRow, PathConflict, UsageRepository
from storage.objects.schemas import ObjectRead
from storage.objects.service import tenant_of
from storage.paths import normalize_path
from storage.s3 import UploadGone
from storage.uploads import events
from storage.uploads.schemas import (
    PartList,
    PartRead,
    PartUrl,
    PartUrls,
    PartUrlsRequest,
    PostForm,
    UploadCreate,
    UploadRead,
)

MAX_POST_BYTES = 5 * 1024**3  # S3's limit for one PUT/POST
MAX_PARTS = 10_000


def _ttl(ctx: StorageContext, requested: int | None) -> int:
    limit = ctx.settings.storage_upload_url_ttl_seconds
    return min(requested or limit, limit)


def _plan(ctx: StorageContext, body: UploadCreate) -> tuple[str, int | None]:
    """(method, part size) for the request, or a 4xx explaining what does not fit."""
    s = ctx.settings
    method = body.method
    if method == "auto":
        method = "multipart" if body.size > s.storage_multipart_threshold_bytes else "post"
    if method == "post":
        if body.size > MAX_POST_BYTES:
            raise UploadTooLarge(f"A single POST carries at most {MAX_POST_BYTES} bytes; use multipart")
        return method, None
    if body.size == 0:
        raise BadRequest("An empty object is uploaded with `post`, not multipart", code="empty_multipart")
    part_size = body.part_size or max(s.storage_default_part_bytes, math.ceil(body.size / MAX_PARTS))
    if part_size < s.storage_min_part_bytes and part_size < body.size:
        raise BadRequest(
            f"Parts other than the last must be at least {s.storage_min_part_bytes} bytes", code="part_size"
        )
    if math.ceil(body.size / part_size) > MAX_PARTS:
        raise BadRequest(f"At most {MAX_PARTS} parts: use larger parts", code="part_size")
    return method, part_size


def read_upload(row: ObjectRow, **extra: object) -> UploadRead:
    part_count = math.ceil(row.size / row.part_size) if row.part_size else None
    return UploadRead(
        id=str(row.id),
        status=row.status,  # type: ignore[arg-type]
        method=row.method,  # type: ignore[arg-type]
        object=ObjectRead.of(row),
        part_size=row.part_size,
        part_count=part_count,
        upload_expires_at=row.expires_at,
        failure=row.failure,
        **extra,  # type: ignore[arg-type]
    )


async def create(ctx: StorageContext, identity: Identity, body: UploadCreate) -> UploadRead:
    path = normalize_path(body.path)
    tenant = tenant_of(identity)
    assert identity.user_id is not None
    quota.check_content_type(ctx.settings, body.content_type)
    method, part_size = _plan(ctx, body)
    object_id = new_id()
    key = ctx.object_key(tenant, object_id)
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await quota.reserve(conn, ctx.settings, tenant, body.size)
            # Created inside the transaction: if the commit fails, housekeeping aborts the unknown upload.
            upload_id = await ctx.store.create_multipart(key, body.content_type) if method == "multipart" else None
            new = NewObject(
                id=object_id,
                tenant_id=tenant,
                owner_id=identity.user_id,
                path=path,
                size=body.size,
                content_type=body.content_type,
                sha256=body.sha256,
                method=method,
                s3_key=key,
                expires_at=utcnow() + timedelta(seconds=ctx.settings.storage_pending_ttl_seconds),
                multipart_upload_id=upload_id,
                part_size=part_size,
            )
            try:
                row = await ObjectRepository(conn).insert_pending(new)
            except PathConflict:
                raise PathTaken(f"`{path}` is already used") from None
            await events.upload_started(conn, row)
    except quota.QuotaFull as full:
        await quota.refuse(ctx.pool, identity, full)
    if method == "multipart":
        return read_upload(row)
    return await _with_post_form(ctx, row, body.expires_in)


async def _with_post_form(ctx: StorageContext, row: ObjectRow, expires_in: int | None) -> UploadRead:
    ttl = _ttl(ctx, expires_in)
    url, fields = await ctx.store.presign_post(
        row.s3_key, size=row.size, content_type=row.content_type, sha256_hex=row.sha256, expires_in=ttl
    )
    return read_upload(row, post=PostForm(url=url, fields=fields), urls_expire_at=utcnow() + timedelta(seconds=ttl))


async def renew_post_form(
    ctx: StorageContext, identity: Identity, upload_id: UUID, expires_in: int | None
) -> UploadRead:
    """A fresh POST form for a pending `post` upload (the first one expired or the upload was dropped).
    The deletion hold of an abort covers the newest form too."""
    row = await _pending(ctx, identity, upload_id, "post")
    return await _with_post_form(ctx, row, expires_in)


async def _pending(ctx: StorageContext, identity: Identity, upload_id: UUID, method: str | None = None) -> ObjectRow:
    async with ctx.pool.acquire() as conn:
        row = await ObjectRepository(conn).get(tenant_of(identity), upload_id)
    return check_pending(row, method)


def check_pending(row: ObjectRow | None, method: str | None = None) -> ObjectRow:
    if row is None or row.method == "copy":
        raise UploadNotFound("No such upload")
    if row.status != "pending":
        raise InvalidState(f"The upload is {row.status}")
    if method is not None and row.method != method:
        raise InvalidState(f"This is a `{row.method}` upload")
    return row


async def get(ctx: StorageContext, identity: Identity, upload_id: UUID) -> UploadRead:
    async with ctx.pool.acquire() as conn:
        row = await ObjectRepository(conn).get(tenant_of(identity), upload_id)
    if row is None or row.method == "copy":
        raise UploadNotFound("No such upload")
    return read_upload(row)


async def part_urls(ctx: StorageContext, identity: Identity, upload_id: UUID, body: PartUrlsRequest) -> PartUrls:
    row = await _pending(ctx, identity, upload_id, "multipart")
    assert row.part_size is not None
    assert row.multipart_upload_id is not None
    count = math.ceil(row.size / row.part_size)
    if max(body.part_numbers) > count:
        raise BadRequest(f"This upload has {count} parts", code="invalid_part_number")
    ttl = _ttl(ctx, body.expires_in)
    items = [
        PartUrl(part_number=n, url=await ctx.store.presign_part(row.s3_key, row.multipart_upload_id, n, ttl))
        for n in sorted(set(body.part_numbers))
    ]
    return PartUrls(items=items, expires_at=utcnow() + timedelta(seconds=ttl))


async def list_parts(
    ctx: StorageContext, identity: Identity, upload_id: UUID, limit: int, cursor: str | None
) -> PartList:
    """The parts S3 already holds, so a client resumes with only the missing ones."""
    row = await _pending(ctx, identity, upload_id, "multipart")
    assert row.multipart_upload_id is not None
    after = ctx.cursors.decode(cursor, int) if cursor else 0
    try:
        parts, marker = await ctx.store.list_parts(row.s3_key, row.multipart_upload_id, after=after, limit=limit)
    except UploadGone:
        raise InvalidState("The upload was aborted or has expired") from None
    items = [PartRead(part_number=p.number, size=p.size, etag=p.etag) for p in parts]
    return PartList(items=items, next_cursor=ctx.cursors.encode(marker) if marker else None)


async def abort(ctx: StorageContext, identity: Identity, upload_id: UUID) -> None:
    row = await _pending(ctx, identity, upload_id)
    # A presigned POST may still land until its policy expires: the intent outlives it.
    hold = utcnow() + timedelta(seconds=ctx.settings.storage_upload_url_ttl_seconds)
    async with ctx.pool.acquire() as conn, conn.transaction():
        locked = await ObjectRepository(conn).get(row.tenant_id, row.id, lock=True)
        if locked is None or locked.status != "pending":
            raise InvalidState("The upload is no longer in progress")
        await DeletionRepository(conn).add([locked], "aborted", hold_until=hold if row.method == "post" else None)
        await ObjectRepository(conn).remove([row.id])
        await UsageRepository(conn).release(row.tenant_id, row.size)
    await delete_bytes(ctx.pool, ctx.store, ctx.settings, [row.s3_key])
