"""The caller's own account: who am I, change my password."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.params import Body
from portal_contracts.identity import PasswordChanged
from portal_core.errors import Unauthorized
from portal_core.http import CallerIdentity, require_user
from portal_events import publish

from identity.errors import InvalidCredentials
from identity.memberships.repository import MembershipRepository
from identity.mfa.repository import MfaRepository
from identity.runtime import RuntimeDep
from identity.security.passwords import check_password_policy
from identity.sessions.service import revoke_other_sessions
from identity.settings import SCHEMA
from identity.users.repository import UserRepository
from identity.users.schemas import MeRead, PasswordUpdate

PREFIX = "/api/identity/v1/users/me"
_TAGS = ["account"]


@get(PREFIX, tags=_TAGS, summary="The signed-in user and their role in the current tenant")
async def me(identity: CallerIdentity, runtime: RuntimeDep) -> MeRead:
    caller = require_user(identity)
    user_id, tenant_id = UUID(caller.user_id or ""), UUID(caller.tenant_id or "")
    async with runtime.pool.acquire() as conn:
        user = await UserRepository(conn).by_id(user_id)
        role = await MembershipRepository(conn).role_of(tenant_id, user_id)
        mfa = await MfaRepository(conn).is_enabled(user_id)
    if user is None or role is None:
        raise Unauthorized("The session's account no longer exists", code="invalid_session")
    return MeRead(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        has_password=user.password_hash is not None,
        mfa_enabled=mfa,
        tenant_id=str(tenant_id),
        role=role,
        created_at=user.created_at,
    )


@post(
    f"{PREFIX}/password",
    tags=_TAGS,
    summary="Change the password; every other session of the user ends",
    status_code=204,
)
async def change_password(
    data: Annotated[PasswordUpdate, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> Response[None]:
    caller = require_user(identity)
    user_id = UUID(caller.user_id or "")
    async with runtime.pool.acquire() as conn:
        user = await UserRepository(conn).by_id(user_id)
    if user is None:
        raise Unauthorized("The session's account no longer exists", code="invalid_session")
    await runtime.login_limits.check(f"password-change:{user_id}")
    if not await runtime.passwords.verify(user.password_hash, data.current_password):
        await runtime.login_limits.record_failure(f"password-change:{user_id}")
        raise InvalidCredentials("The current password is not correct")
    check_password_policy(data.new_password, user.email, runtime.settings.password_min_length)
    new_hash = await runtime.passwords.hash(data.new_password)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await UserRepository(conn).set_password_hash(user_id, new_hash)
        await publish(conn, PasswordChanged(user_id=str(user_id)), schema=SCHEMA, entity_id=user_id)
        await revoke_other_sessions(
            runtime, conn, user_id, keep_session_id=caller.session_id, reason="password_changed"
        )
    return Response(None, status_code=204)


ROUTE_HANDLERS = [me, change_password]
