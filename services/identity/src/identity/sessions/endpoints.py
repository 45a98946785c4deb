"""The caller's sessions: the current one, the list, revoking one."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from litestar import Response, delete, get
from litestar.params import FromPath
from portal_core.errors import NotFound
from portal_core.http import CallerIdentity, require_user
from portal_core.pagination import Cursor, Limit

from identity.runtime import RuntimeDep
from identity.sessions.schemas import SessionPage, SessionRead
from identity.sessions.service import revoke_session
from identity.sessions.store import SessionRecord

PREFIX = "/api/identity/v1/sessions"
_TAGS = ["sessions"]


def _read(record: SessionRecord, current_id: str | None) -> SessionRead:
    return SessionRead(
        id=record.id,
        tenant_id=record.tenant_id,
        mfa=record.mfa,
        method=record.method,
        created_at=datetime.fromtimestamp(record.created_at, UTC),
        last_seen_at=datetime.fromtimestamp(record.last_seen_at, UTC),
        expires_at=datetime.fromtimestamp(record.absolute_expires_at, UTC),
        client_ip=record.client_ip,
        user_agent=record.user_agent,
        current=record.id == current_id,
    )


@get(f"{PREFIX}/current", tags=_TAGS, summary="The session this request was made with")
async def current_session(identity: CallerIdentity, runtime: RuntimeDep) -> SessionRead:
    caller = require_user(identity)
    for record in await runtime.sessions.list_for_user(caller.user_id or ""):
        if record.id == caller.session_id:
            return _read(record, caller.session_id)
    raise NotFound("The session has ended", code="session_not_found")


@get(PREFIX, tags=_TAGS, summary="The caller's live sessions, in every tenant")
async def list_sessions(
    identity: CallerIdentity, runtime: RuntimeDep, limit: Limit = 50, cursor: Cursor = None
) -> SessionPage:
    caller = require_user(identity)
    after = runtime.cursors.decode_or_none(cursor, UUID)
    records = [
        r for r in await runtime.sessions.list_for_user(caller.user_id or "") if after is None or UUID(r.id) > after
    ]
    page = records[:limit]
    next_cursor = runtime.cursors.encode(page[-1].id) if len(records) > limit else None
    return SessionPage(items=[_read(r, caller.session_id) for r in page], next_cursor=next_cursor)


@delete(f"{PREFIX}/{{session_id:uuid}}", tags=_TAGS, summary="Revoke one of the caller's sessions", status_code=204)
async def revoke(session_id: FromPath[UUID], identity: CallerIdentity, runtime: RuntimeDep) -> Response[None]:
    caller = require_user(identity)
    async with runtime.pool.acquire() as conn, conn.transaction():
        if not await revoke_session(runtime, conn, UUID(caller.user_id or ""), str(session_id), "revoked"):
            raise NotFound("No such session", code="session_not_found")
    return Response(None, status_code=204)


ROUTE_HANDLERS = [current_session, list_sessions, revoke]
