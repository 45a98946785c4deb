"""All SQL on objects, tenant usage and quotas. Every query filters by tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from portal_db import Connection

from storage.paths import like_prefix

_COLUMNS = (
    "id, tenant_id, owner_id, path, size, content_type, sha256, status, method, s3_key, multipart_upload_id, "
    "part_size, copied_from, failure, created_at, updated_at, ready_at, expires_at"
)


@dataclass(frozen=True)
class ObjectRow:
    id: UUID
    tenant_id: str
    owner_id: str
    path: str
    size: int
    content_type: str
    sha256: str
    status: str
    method: str
    s3_key: str
    multipart_upload_id: str | None
    part_size: int | None
    copied_from: UUID | None
    failure: str | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> ObjectRow:
        return cls(**dict(record))


@dataclass(frozen=True)
class NewObject:
    id: UUID
    tenant_id: str
    owner_id: str
    path: str
    size: int
    content_type: str
    sha256: str
    method: str
    s3_key: str
    expires_at: datetime
    multipart_upload_id: str | None = None
    part_size: int | None = None
    copied_from: UUID | None = None


class PathConflict(Exception):
    """The unique live-path index refused the write."""


class ObjectRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_pending(self, new: NewObject) -> ObjectRow:
        try:
            record = await self._conn.fetchrow(
                f"""
                INSERT INTO storage.objects (id, tenant_id, owner_id, path, size, content_type, sha256, status, method,
                                     s3_key, multipart_upload_id, part_size, copied_from, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12, $13)
                RETURNING {_COLUMNS}
                """,
                new.id,
                new.tenant_id,
                new.owner_id,
                new.path,
                new.size,
                new.content_type,
                new.sha256,
                new.method,
                new.s3_key,
                new.multipart_upload_id,
                new.part_size,
                new.copied_from,
                new.expires_at,
            )
        except asyncpg.UniqueViolationError as exc:
            raise PathConflict(new.path) from exc
        assert record is not None
        return ObjectRow.of(record)

    async def get(self, tenant_id: str, object_id: UUID, *, lock: bool = False) -> ObjectRow | None:
        suffix = " FOR UPDATE" if lock else ""
        record = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM storage.objects WHERE tenant_id = $1 AND id = $2{suffix}", tenant_id, object_id
        )
        return None if record is None else ObjectRow.of(record)

    async def mark_ready(self, tenant_id: str, object_id: UUID) -> ObjectRow | None:
        record = await self._conn.fetchrow(
            f"""
            UPDATE storage.objects SET status = 'ready', ready_at = now(), updated_at = now(), expires_at = NULL
            WHERE tenant_id = $1 AND id = $2 AND status = 'pending' RETURNING {_COLUMNS}
            """,
            tenant_id,
            object_id,
        )
        return None if record is None else ObjectRow.of(record)

    async def mark_failed(self, tenant_id: str, object_id: UUID, reason: str) -> ObjectRow | None:
        record = await self._conn.fetchrow(
            f"""
            UPDATE storage.objects SET status = 'failed', failure = $3, updated_at = now(), expires_at = NULL
            WHERE tenant_id = $1 AND id = $2 AND status = 'pending' RETURNING {_COLUMNS}
            """,
            tenant_id,
            object_id,
            reason,
        )
        return None if record is None else ObjectRow.of(record)

    async def list_ready(
        self, tenant_id: str, prefix: str, after: tuple[str, UUID] | None, limit: int
    ) -> list[ObjectRow]:
        after_path, after_id = after if after is not None else ("", UUID(int=0))
        records = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM storage.objects
            WHERE tenant_id = $1 AND status = 'ready' AND path LIKE $2 AND (path, id) > ($3, $4)
            ORDER BY path, id LIMIT $5
            """,
            tenant_id,
            like_prefix(prefix),
            after_path,
            after_id,
            limit,
        )
        return [ObjectRow.of(r) for r in records]

    async def rename(self, tenant_id: str, object_id: UUID, path: str) -> None:
        try:
            await self._conn.execute(
                "UPDATE storage.objects SET path = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                object_id,
                path,
            )
        except asyncpg.UniqueViolationError as exc:
            raise PathConflict(path) from exc

    async def live_under(self, tenant_id: str, folder: str) -> list[ObjectRow]:
        """Pending and ready objects inside `folder` (at any depth), locked for the caller's transaction."""
        records = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM storage.objects
            WHERE tenant_id = $1 AND status IN ('pending', 'ready') AND path LIKE $2
            ORDER BY path FOR UPDATE
            """,
            tenant_id,
            like_prefix(folder + "/"),
        )
        return [ObjectRow.of(r) for r in records]

    async def move_folder(self, tenant_id: str, folder: str, new_folder: str) -> None:
        try:
            await self._conn.execute(
                """
                UPDATE storage.objects SET path = $3 || substr(path, length($2) + 1), updated_at = now()
                WHERE tenant_id = $1 AND status IN ('pending', 'ready') AND path LIKE $4
                """,
                tenant_id,
                folder + "/",
                new_folder + "/",
                like_prefix(folder + "/"),
            )
        except asyncpg.UniqueViolationError as exc:
            raise PathConflict(new_folder) from exc

    async def remove(self, object_ids: list[UUID]) -> None:
        await self._conn.execute("DELETE FROM storage.objects WHERE id = ANY($1::uuid[])", object_ids)


class UsageRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def limits(self, tenant_id: str) -> tuple[int | None, int | None]:
        """(quota bytes, max upload bytes) overrides for the tenant; None where the defaults apply."""
        record = await self._conn.fetchrow(
            "SELECT quota_bytes, max_upload_bytes FROM storage.tenant_quotas WHERE tenant_id = $1", tenant_id
        )
        return (None, None) if record is None else (record["quota_bytes"], record["max_upload_bytes"])

    async def used(self, tenant_id: str) -> int:
        value = await self._conn.fetchval("SELECT bytes FROM storage.tenant_usage WHERE tenant_id = $1", tenant_id)
        return int(value or 0)

    async def reserve(
        self, tenant_id: str, size: int, default_quota: int, default_max_upload: int | None
    ) -> tuple[int, int, bool]:
        """Add `size` to the tenant's usage if it fits its quota (and its per-upload limit, unless None):
        one statement. Returns (quota, max upload, reserved)."""
        record = await self._conn.fetchrow(
            """
            WITH lim AS (
                SELECT coalesce(q.quota_bytes, $3) AS quota, coalesce(q.max_upload_bytes, $4) AS max_upload
                FROM (SELECT $1::text AS tenant_id) AS t LEFT JOIN storage.tenant_quotas AS q USING (tenant_id)
            ), reserved AS (
                INSERT INTO storage.tenant_usage AS usage (tenant_id, bytes)
                SELECT $1, $2 FROM lim WHERE $2 <= lim.quota AND ($5 OR $2 <= lim.max_upload)
                ON CONFLICT (tenant_id) DO UPDATE SET bytes = usage.bytes + excluded.bytes
                WHERE usage.bytes + excluded.bytes <= (SELECT quota FROM lim)
                RETURNING bytes
            )
            SELECT lim.quota, lim.max_upload, EXISTS (SELECT 1 FROM reserved) AS reserved FROM lim
            """,
            tenant_id,
            size,
            default_quota,
            default_max_upload or 0,
            default_max_upload is None,
        )
        assert record is not None
        return int(record["quota"]), int(record["max_upload"]), bool(record["reserved"])

    async def release(self, tenant_id: str, size: int) -> None:
        await self._conn.execute(
            "UPDATE storage.tenant_usage SET bytes = greatest(bytes - $2, 0) WHERE tenant_id = $1", tenant_id, size
        )
