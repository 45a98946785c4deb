"""Members of the caller's tenant and their roles (the tenant comes from the assertion only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, delete, get, patch
from litestar.params import Body, FromPath
from portal_core.http import CallerIdentity, require_user
from portal_core.pagination import Cursor, Limit

from identity.memberships import service
from identity.memberships.repository import MemberRow, MembershipRepository
from identity.memberships.schemas import MemberPage, MemberRead, MemberUpdate
from identity.runtime import RuntimeDep

PREFIX = "/api/identity/v1/members"
_TAGS = ["members"]
_ANY_MEMBER = frozenset({"owner", "admin", "member"})


def _read(row: MemberRow) -> MemberRead:
    return MemberRead(
        user_id=str(row.user_id),
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        joined_at=row.created_at,
    )


def _caller(identity: CallerIdentity) -> tuple[UUID, UUID]:
    caller = require_user(identity)
    return UUID(caller.tenant_id or ""), UUID(caller.user_id or "")


@get(PREFIX, tags=_TAGS, summary="Members of the current tenant")
async def list_members(
    identity: CallerIdentity, runtime: RuntimeDep, limit: Limit = 50, cursor: Cursor = None
) -> MemberPage:
    tenant_id, user_id = _caller(identity)
    after = runtime.cursors.decode_or_none(cursor, UUID)
    async with runtime.pool.acquire() as conn:
        await service.require_role(conn, tenant_id, user_id, _ANY_MEMBER)  # type: ignore[arg-type]
        rows = await MembershipRepository(conn).page(tenant_id, after, limit + 1)
    page = rows[:limit]
    next_cursor = runtime.cursors.encode(page[-1].user_id) if len(rows) > limit else None
    return MemberPage(items=[_read(r) for r in page], next_cursor=next_cursor)


@get(f"{PREFIX}/{{user_id:uuid}}", tags=_TAGS, summary="One member of the current tenant")
async def get_member(user_id: FromPath[UUID], identity: CallerIdentity, runtime: RuntimeDep) -> MemberRead:
    tenant_id, caller_id = _caller(identity)
    async with runtime.pool.acquire() as conn:
        await service.require_role(conn, tenant_id, caller_id, _ANY_MEMBER)  # type: ignore[arg-type]
        return _read(await service.member_or_404(conn, tenant_id, user_id))


@patch(f"{PREFIX}/{{user_id:uuid}}", tags=_TAGS, summary="Change a member's role (admins; owners for owners)")
async def update_member(
    user_id: FromPath[UUID], data: Annotated[MemberUpdate, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> MemberRead:
    tenant_id, caller_id = _caller(identity)
    async with runtime.pool.acquire() as conn, conn.transaction():
        return _read(await service.change_role(conn, tenant_id, caller_id, user_id, data.role))


@delete(
    f"{PREFIX}/{{user_id:uuid}}",
    tags=_TAGS,
    summary="Remove a member; their sessions in this tenant end",
    status_code=204,
)
async def remove_member(user_id: FromPath[UUID], identity: CallerIdentity, runtime: RuntimeDep) -> Response[None]:
    tenant_id, caller_id = _caller(identity)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await service.remove_member(runtime, conn, tenant_id, caller_id, user_id)
    return Response(None, status_code=204)


ROUTE_HANDLERS = [list_members, get_member, update_member, remove_member]
