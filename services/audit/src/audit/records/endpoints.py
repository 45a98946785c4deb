"""HTTP: a tenant admin's view of the tenant's audit log (list, one record, NDJSON and CSV exports)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream
from portal_core.http import CallerIdentity
from portal_core.pagination import Cursor

from audit.records import repository
from audit.records.errors import RecordNotFound
from audit.records.export import export_rows
from audit.records.schemas import Outcome, RecordFilter, RecordPage, RecordRead
from audit.records.service import check_filter, require_tenant_admin, to_read

_Text = Annotated[str | None, QueryParameter(min_length=1, max_length=1000)]
_Time = Annotated[
    datetime | None, QueryParameter(description="RFC 3339 with a time zone; filters the event's own time")
]
_CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def _filters(
    actor_id: str | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    outcome: Outcome | None,
    trace_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> RecordFilter:
    return check_filter(
        RecordFilter(
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            trace_id=trace_id,
            since=since,
            until=until,
        )
    )


class RecordsController(Controller):
    path = "/api/audit/v1"
    tags = ["records"]

    @get("/records", summary="The tenant's audit records, newest first")
    async def list_records(
        self,
        identity: CallerIdentity,
        state: State,
        actor_id: _Text = None,
        action: _Text = None,
        target_type: _Text = None,
        target_id: _Text = None,
        outcome: FromQuery[Outcome | None] = None,
        trace_id: _Text = None,
        since: _Time = None,
        until: _Time = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Cursor = None,
    ) -> RecordPage:
        tenant_id = require_tenant_admin(identity)
        filters = _filters(actor_id, action, target_type, target_id, outcome, trace_id, since, until)
        before = state.cursors.decode(cursor, int) if cursor is not None else None
        async with state.pool.acquire() as conn:
            rows = await repository.page(conn, tenant_id, filters, before, limit + 1)
        items = [to_read(row) for row in rows[:limit]]
        next_cursor = state.cursors.encode(items[-1].seq) if len(rows) > limit else None
        return RecordPage(items=items, next_cursor=next_cursor)

    @get("/records/{record_id:uuid}", summary="One audit record of the tenant")
    async def read_record(self, record_id: FromPath[UUID], identity: CallerIdentity, state: State) -> RecordRead:
        tenant_id = require_tenant_admin(identity)
        async with state.pool.acquire() as conn:
            row = await repository.one(conn, tenant_id, record_id)
        if row is None:
            raise RecordNotFound()  # another tenant's record too: its existence is not confirmed
        return to_read(row)

    @get(
        "/exports/records",
        summary="Export the tenant's filtered records as NDJSON or CSV (streamed, newest first)",
        response_description="ndjson: one record per line; csv: a header row, then one record per row",
    )
    async def export_records(
        self,
        identity: CallerIdentity,
        state: State,
        actor_id: _Text = None,
        action: _Text = None,
        target_type: _Text = None,
        target_id: _Text = None,
        outcome: FromQuery[Outcome | None] = None,
        trace_id: _Text = None,
        since: _Time = None,
        until: _Time = None,
        fmt: Annotated[Literal["ndjson", "csv"], QueryParameter(name="format", description="ndjson or csv")] = "ndjson",
    ) -> Stream:
        tenant_id = require_tenant_admin(identity)
        filters = _filters(actor_id, action, target_type, target_id, outcome, trace_id, since, until)
        limit = state.settings.audit_export_max_rows
        return Stream(
            export_rows(state.pool, tenant_id, filters, limit, fmt),
            media_type=_CONTENT_TYPES[fmt],
            headers={"content-disposition": f'attachment; filename="audit-records.{fmt}"'},
        )
