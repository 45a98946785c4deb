"""Invitations of the caller's tenant, and accepting one (public: the token is the credential)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, delete, get, post
from litestar.params import Body, FromPath, HeaderParameter
from portal_core.errors import NotFound
from portal_core.http import CallerIdentity, require_user
from portal_core.pagination import Cursor, Limit

from identity.invitations import service
from identity.invitations.repository import InvitationRepository, InvitationRow
from identity.invitations.schemas import InvitationAccept, InvitationCreate, InvitationPage, InvitationRead
from identity.memberships.service import MANAGERS, require_role
from identity.runtime import RuntimeDep
from identity.sessions.cookies import login_response
from identity.sessions.schemas import LoginRead

PREFIX = "/api/identity/v1/invitations"
_TAGS = ["invitations"]
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)]


def _read(row: InvitationRow, token: str | None = None) -> InvitationRead:
    return InvitationRead(
        id=str(row.id),
        email=row.email,
        role=row.role,
        expires_at=row.expires_at,
        created_at=row.created_at,
        token=token,
    )


@post(PREFIX, tags=_TAGS, summary="Invite an email to the current tenant (admins)", status_code=201)
async def create_invitation(
    data: Annotated[InvitationCreate, Body()],
    identity: CallerIdentity,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> InvitationRead:
    caller = require_user(identity)
    async with runtime.pool.acquire() as conn, conn.transaction():
        row, token = await service.invite(
            runtime,
            conn,
            UUID(caller.tenant_id or ""),
            UUID(caller.user_id or ""),
            data.email,
            data.role,
            idempotency_key,
        )
    return _read(row, token)


@get(PREFIX, tags=_TAGS, summary="Pending invitations of the current tenant (admins)")
async def list_invitations(
    identity: CallerIdentity, runtime: RuntimeDep, limit: Limit = 50, cursor: Cursor = None
) -> InvitationPage:
    caller = require_user(identity)
    tenant_id = UUID(caller.tenant_id or "")
    after = runtime.cursors.decode_or_none(cursor, UUID)
    async with runtime.pool.acquire() as conn:
        await require_role(conn, tenant_id, UUID(caller.user_id or ""), MANAGERS)
        rows = await InvitationRepository(conn).pending_page(tenant_id, after, limit + 1)
    page = rows[:limit]
    return InvitationPage(
        items=[_read(r) for r in page], next_cursor=runtime.cursors.encode(page[-1].id) if len(rows) > limit else None
    )


@delete(f"{PREFIX}/{{invitation_id:uuid}}", tags=_TAGS, summary="Revoke a pending invitation (admins)", status_code=204)
async def revoke_invitation(
    invitation_id: FromPath[UUID], identity: CallerIdentity, runtime: RuntimeDep
) -> Response[None]:
    caller = require_user(identity)
    tenant_id = UUID(caller.tenant_id or "")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await require_role(conn, tenant_id, UUID(caller.user_id or ""), MANAGERS)
        if not await InvitationRepository(conn).revoke(tenant_id, invitation_id):
            raise NotFound("No such pending invitation", code="invitation_not_found")
    return Response(None, status_code=204)


@post(
    f"{PREFIX}/accept",
    tags=_TAGS,
    summary="Accept an invitation: a new account with a password, or the signed-in invited account",
    status_code=200,
)
async def accept_invitation(
    data: Annotated[InvitationAccept, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> Response[LoginRead]:
    async with runtime.pool.acquire() as conn:
        password_hash = await service.prepare_password(runtime, conn, data.token, data.password)
    async with runtime.pool.acquire() as conn, conn.transaction():
        outcome = await service.accept(
            runtime, conn, identity, data.token, data.password, data.display_name, password_hash
        )
    return login_response(outcome, runtime.settings, delivery=data.token_delivery)


ROUTE_HANDLERS = [create_invitation, list_invitations, revoke_invitation, accept_invitation]
