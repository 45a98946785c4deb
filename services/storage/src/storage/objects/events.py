"""What the object routes publish (contracts in portal_contracts.storage)."""

from __future__ import annotations

from datetime import UTC, datetime

from portal_contracts.storage import ObjectCreated, ObjectDeleted, ObjectMoved, QuotaExceeded
from portal_db import Connection
from portal_events import publish

from storage.objects.repository import ObjectRow
from storage.settings import SCHEMA


def _now() -> datetime:
    return datetime.now(UTC)


async def object_created(conn: Connection, row: ObjectRow) -> None:
    event = ObjectCreated(
        object_id=str(row.id),
        tenant_id=row.tenant_id,
        owner_id=row.owner_id,
        path=row.path,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        copied_from=None if row.copied_from is None else str(row.copied_from),
        occurred_at=_now(),
    )
    await publish(conn, event, schema=SCHEMA, tenant_id=row.tenant_id, entity_id=row.id, actor_id=row.owner_id)


async def object_deleted(conn: Connection, row: ObjectRow, deleted_by: str | None) -> None:
    event = ObjectDeleted(
        object_id=str(row.id),
        tenant_id=row.tenant_id,
        path=row.path,
        size=row.size,
        deleted_by=deleted_by,
        occurred_at=_now(),
    )
    await publish(conn, event, schema=SCHEMA, tenant_id=row.tenant_id, entity_id=row.id, actor_id=deleted_by)


async def object_moved(conn: Connection, row: ObjectRow, new_path: str, actor: str | None) -> None:
    event = ObjectMoved(
        object_id=str(row.id), tenant_id=row.tenant_id, old_path=row.path, new_path=new_path, occurred_at=_now()
    )
    await publish(conn, event, schema=SCHEMA, tenant_id=row.tenant_id, entity_id=row.id, actor_id=actor)


async def quota_exceeded(
    conn: Connection, *, tenant_id: str, user_id: str | None, requested: int, used: int, quota: int
) -> None:
    event = QuotaExceeded(
        tenant_id=tenant_id,
        user_id=user_id,
        requested_bytes=requested,
        used_bytes=used,
        quota_bytes=quota,
        occurred_at=_now(),
    )
    await publish(conn, event, schema=SCHEMA, tenant_id=tenant_id, actor_id=user_id, outcome="failure")
