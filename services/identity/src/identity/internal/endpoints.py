"""The gateway's session lookup: `POST /internal/identity/v1/sessions/resolve`.

Not under /api/, so the gateway never routes a client there; and it demands an assertion the gateway
signed for the audience `identity-internal`, which no client and no other service can produce.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, post
from litestar.params import Body
from portal_core.assertion import IDENTITY_HEADER
from portal_core.errors import Unauthorized

from identity.memberships.repository import MembershipRepository
from identity.runtime import RuntimeDep

RESOLVE_PATH = "/internal/identity/v1/sessions/resolve"


class ResolveRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Resolution(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`active: false` for an unknown, expired or revoked token (like RFC 7662 introspection)."""

    active: bool
    tenant_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    roles: list[str] = []
    mfa: bool = False
    csrf_hash: str | None = None  # SHA-256 hex of the session's CSRF token, checked by the gateway


_INACTIVE = Resolution(active=False)


@post(RESOLVE_PATH, include_in_schema=False, status_code=200)
async def resolve_session(
    data: Annotated[ResolveRequest, Body()], request: Request[Any, Any, Any], runtime: RuntimeDep
) -> Resolution:
    assertion = request.headers.get(IDENTITY_HEADER)
    if not assertion:
        raise Unauthorized("Only the gateway may resolve sessions", code="missing_assertion")
    runtime.internal_verifier.verify(assertion)
    record = await runtime.sessions.resolve(data.token)
    if record is None:
        return _INACTIVE
    async with runtime.pool.acquire() as conn:
        role = await MembershipRepository(conn).role_of(UUID(record.tenant_id), UUID(record.user_id))
    if role is None:  # removed from the tenant (or the account is gone): the session is over
        await runtime.sessions.revoke(record.user_id, record.id)
        return _INACTIVE
    return Resolution(
        active=True,
        tenant_id=record.tenant_id,
        user_id=record.user_id,
        session_id=record.id,
        roles=[role],
        mfa=record.mfa,
        csrf_hash=record.csrf_hash,
    )


ROUTE_HANDLERS = [resolve_session]
