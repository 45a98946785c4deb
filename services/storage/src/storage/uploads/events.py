"""What the upload routes publish (contracts in portal_contracts.storage)."""

from __future__ import annotations

from datetime import UTC, datetime

from portal_contracts.storage import UploadStarted
from portal_db import Connection
from portal_events import publish

from storage.objects.repository import ObjectRow
from storage.settings import SCHEMA


async def upload_started(conn: Connection, row: ObjectRow) -> None:
    event = UploadStarted(
        object_id=str(row.id),
        tenant_id=row.tenant_id,
        owner_id=row.owner_id,
        path=row.path,
        size=row.size,
        content_type=row.content_type,
        method=row.method,
        occurred_at=datetime.now(UTC),
    )
    await publish(conn, event, schema=SCHEMA, tenant_id=row.tenant_id, entity_id=row.id, actor_id=row.owner_id)
