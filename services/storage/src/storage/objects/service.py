"""Rules for ready objects: read, list, rename/move, delete (one or a folder), copy, download URLs."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote
from uuid import UUID

import msgspec
from portal_core.assertion import Identity
from portal_core.errors import Forbidden
from portal_core.ids import new_id

from storage.context import StorageContext, utcnow
from storage.errors import InvalidPath, InvalidState, ObjectNotFound, PathTaken, StoreUnavailable
from storage.housekeeping.repository import DeletionRepository
from storage.objects import events, quota
from storage.objects.deletion import delete_bytes
from storage.objects.repository import NewObject, ObjectRepository, ObjectRow, PathConflict, UsageRepository
from storage.objects.schemas import DownloadUrl, FolderResult, ObjectList, ObjectRead, Usage
from storage.paths import file_name, normalize_path, normalize_prefix


class ListPosition(msgspec.Struct, array_like=True, frozen=True):
    """Where a page of a listing ended: keyset (path, id)."""

    path: str
    id: UUID


# Tenant ids become one key segment: no `/`, no dot-only names an S3 gateway's filer could resolve.
_TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def tenant_of(identity: Identity) -> str:
    assert identity.tenant_id is not None  # require_user ran first
    if not _TENANT_ID.fullmatch(identity.tenant_id):
        raise Forbidden("This tenant id cannot own objects", code="invalid_tenant")
    return identity.tenant_id


async def get_ready(ctx: StorageContext, identity: Identity, object_id: UUID) -> ObjectRow:
    async with ctx.pool.acquire() as conn:
        row = await ObjectRepository(conn).get(tenant_of(identity), object_id)
    if row is None or row.status != "ready":
        raise ObjectNotFound("No such object")
    return row


async def list_objects(
    ctx: StorageContext, identity: Identity, prefix: str, limit: int, cursor: str | None
) -> ObjectList:
    clean = normalize_prefix(prefix)
    after = None
    if cursor:
        position = ctx.cursors.decode(cursor, ListPosition)
        after = (position.path, position.id)
    async with ctx.pool.acquire() as conn:
        rows = await ObjectRepository(conn).list_ready(tenant_of(identity), clean, after, limit + 1)
    page = rows[:limit]
    next_cursor = ctx.cursors.encode(ListPosition(page[-1].path, page[-1].id)) if len(rows) > limit else None
    return ObjectList(items=[ObjectRead.of(r) for r in page], next_cursor=next_cursor)


async def rename(ctx: StorageContext, identity: Identity, object_id: UUID, new_path: str) -> ObjectRead:
    path = normalize_path(new_path)
    tenant = tenant_of(identity)
    async with ctx.pool.acquire() as conn, conn.transaction():
        repo = ObjectRepository(conn)
        row = await repo.get(tenant, object_id, lock=True)
        if row is None or row.status != "ready":
            raise ObjectNotFound("No such object")
        if row.path != path:
            try:
                await repo.rename(tenant, object_id, path)
            except PathConflict:
                raise PathTaken(f"`{path}` is already used") from None
            await events.object_moved(conn, row, path, identity.user_id)
        updated = await repo.get(tenant, object_id)
    assert updated is not None
    return ObjectRead.of(updated)


async def delete(ctx: StorageContext, identity: Identity, object_id: UUID) -> None:
    tenant = tenant_of(identity)
    async with ctx.pool.acquire() as conn, conn.transaction():
        repo = ObjectRepository(conn)
        row = await repo.get(tenant, object_id, lock=True)
        if row is None or row.status != "ready":
            raise ObjectNotFound("No such object")
        await DeletionRepository(conn).add([row], "deleted")
        await repo.remove([row.id])
        await UsageRepository(conn).release(tenant, row.size)
        await events.object_deleted(conn, row, identity.user_id)
    await delete_bytes(ctx.pool, ctx.store, ctx.settings, [row.s3_key])


async def delete_folder(ctx: StorageContext, identity: Identity, folder: str) -> FolderResult:
    """Delete every object under `folder` (and abort uploads there) in one transaction; bytes follow."""
    path = normalize_path(folder, "folder")
    tenant = tenant_of(identity)
    hold = utcnow() + timedelta(seconds=ctx.settings.storage_upload_url_ttl_seconds)
    async with ctx.pool.acquire() as conn, conn.transaction():
        repo, deletions = ObjectRepository(conn), DeletionRepository(conn)
        rows = await repo.live_under(tenant, path)
        if not rows:
            return FolderResult(path=path, objects=0)
        ready = [r for r in rows if r.status == "ready"]
        pending = [r for r in rows if r.status == "pending"]
        await deletions.add(ready, "deleted")
        await deletions.add(pending, "aborted", hold_until=hold)
        await repo.remove([r.id for r in rows])
        await UsageRepository(conn).release(tenant, sum(r.size for r in rows))
        for row in ready:
            await events.object_deleted(conn, row, identity.user_id)
    await delete_bytes(ctx.pool, ctx.store, ctx.settings, [r.s3_key for r in rows])
    return FolderResult(path=path, objects=len(rows))


async def move_folder(ctx: StorageContext, identity: Identity, folder: str, new_folder: str) -> FolderResult:
    source, target = normalize_path(folder, "folder"), normalize_path(new_folder, "folder")
    if target == source or target.startswith(source + "/"):
        raise InvalidPath("A folder cannot move into itself")
    tenant = tenant_of(identity)
    async with ctx.pool.acquire() as conn, conn.transaction():
        repo = ObjectRepository(conn)
        rows = await repo.live_under(tenant, source)
        try:
            await repo.move_folder(tenant, source, target)
        except PathConflict:
            raise PathTaken(f"Some paths under `{target}` are already used") from None
        for row in rows:
            if row.status == "ready":
                await events.object_moved(conn, row, target + row.path[len(source) :], identity.user_id)
    return FolderResult(path=target, objects=len(rows))


async def copy(ctx: StorageContext, identity: Identity, object_id: UUID, new_path: str) -> ObjectRead:
    """Server-side copy. The copy's row is committed (pending) before its bytes exist, so a crash leaves
    a pending row that housekeeping expires, never bytes nobody knows about."""
    path = normalize_path(new_path)
    tenant = tenant_of(identity)
    assert identity.user_id is not None
    copy_id = new_id()
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            source = await ObjectRepository(conn).get(tenant, object_id)
            if source is None or source.status != "ready":
                raise ObjectNotFound("No such object")
            await quota.reserve(conn, ctx.settings, tenant, source.size, per_upload_limit=False)
            new = NewObject(
                id=copy_id,
                tenant_id=tenant,
                owner_id=identity.user_id,
                path=path,
                size=source.size,
                content_type=source.content_type,
                sha256=source.sha256,
                method="copy",
                s3_key=ctx.object_key(tenant, copy_id),
                expires_at=utcnow() + timedelta(seconds=ctx.settings.storage_pending_ttl_seconds),
                copied_from=source.id,
            )
            try:
                target = await ObjectRepository(conn).insert_pending(new)
            except PathConflict:
                raise PathTaken(f"`{path}` is already used") from None
    except quota.QuotaFull as full:
        await quota.refuse(ctx.pool, identity, full)
    try:
        await ctx.store.copy(source.s3_key, target.s3_key, size=source.size, content_type=source.content_type)
    except Exception as exc:
        await _abandon(ctx, target, "copy failed")
        raise StoreUnavailable("The object store could not copy the object") from exc
    async with ctx.pool.acquire() as conn, conn.transaction():
        ready = await ObjectRepository(conn).mark_ready(tenant, copy_id)
        if ready is None:
            raise InvalidState("The copy was cancelled while it ran")
        await events.object_created(conn, ready)
    return ObjectRead.of(ready)


async def _abandon(ctx: StorageContext, row: ObjectRow, reason: str) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await DeletionRepository(conn).add([row], reason)
        await ObjectRepository(conn).remove([row.id])
        await UsageRepository(conn).release(row.tenant_id, row.size)
    await delete_bytes(ctx.pool, ctx.store, ctx.settings, [row.s3_key])


def content_disposition(kind: str, path: str) -> str:
    """RFC 6266: an ASCII fallback name plus the exact UTF-8 name (RFC 8187)."""
    name = file_name(path)
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download_url(
    ctx: StorageContext, identity: Identity, object_id: UUID, disposition: str, expires_in: int | None
) -> DownloadUrl:
    row = await get_ready(ctx, identity, object_id)
    ttl = min(
        expires_in or ctx.settings.storage_download_url_ttl_seconds, ctx.settings.storage_download_url_ttl_seconds
    )
    url = await ctx.store.presign_get(
        row.s3_key,
        disposition=content_disposition(disposition, row.path),
        content_type=row.content_type,
        expires_in=ttl,
    )
    return DownloadUrl(url=url, expires_at=utcnow() + timedelta(seconds=ttl))


async def usage(ctx: StorageContext, identity: Identity) -> Usage:
    tenant = tenant_of(identity)
    async with ctx.pool.acquire() as conn:
        limit = await quota.limits(conn, ctx.settings, tenant)
        used = await UsageRepository(conn).used(tenant)
    return Usage(used_bytes=used, quota_bytes=limit.quota_bytes, max_upload_bytes=limit.max_upload_bytes)
