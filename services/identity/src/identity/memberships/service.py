"""Who may change whose role: admins manage members and admins, only owners touch owners, and a tenant
always keeps one owner. Roles are read fresh from the database, not from the (cached) assertion.
"""

from __future__ import annotations

from uuid import UUID

from portal_contracts.identity import MemberRemoved, RoleChanged
from portal_core.errors import NotFound
from portal_db import Connection
from portal_events import publish

from identity.errors import LastOwner, NotAllowed
from identity.memberships.repository import MemberRow, MembershipRepository, Role
from identity.runtime import Runtime
from identity.sessions.service import revoke_other_sessions
from identity.settings import SCHEMA

MANAGERS: frozenset[Role] = frozenset({"owner", "admin"})


async def require_role(conn: Connection, tenant_id: UUID, user_id: UUID, allowed: frozenset[Role]) -> Role:
    role = await MembershipRepository(conn).role_of(tenant_id, user_id)
    if role is None or role not in allowed:
        raise NotAllowed()
    return role


async def member_or_404(conn: Connection, tenant_id: UUID, user_id: UUID) -> MemberRow:
    # Filtered by the caller's tenant: another tenant's user is simply not found.
    member = await MembershipRepository(conn).get(tenant_id, user_id)
    if member is None:
        raise NotFound("No such member", code="member_not_found")
    return member


async def _check_owner_rules(
    conn: Connection, tenant_id: UUID, actor_role: Role, target: MemberRow, new_role: Role | None
) -> None:
    touches_owner = target.role == "owner" or new_role == "owner"
    if touches_owner and actor_role != "owner":
        raise NotAllowed("Only an owner can grant or take away the owner role")
    if target.role == "owner" and new_role != "owner":
        owners = await MembershipRepository(conn).lock_owners(tenant_id)
        if owners == [target.user_id]:
            raise LastOwner()


async def change_role(conn: Connection, tenant_id: UUID, actor_id: UUID, user_id: UUID, new_role: Role) -> MemberRow:
    actor_role = await require_role(conn, tenant_id, actor_id, MANAGERS)
    target = await member_or_404(conn, tenant_id, user_id)
    if target.role == new_role:
        return target
    await _check_owner_rules(conn, tenant_id, actor_role, target, new_role)
    await MembershipRepository(conn).set_role(tenant_id, user_id, new_role)
    await publish(
        conn,
        RoleChanged(user_id=str(user_id), tenant_id=str(tenant_id), old_role=target.role, new_role=new_role),
        schema=SCHEMA,
        entity_id=user_id,
    )
    return await member_or_404(conn, tenant_id, user_id)


async def remove_member(runtime: Runtime, conn: Connection, tenant_id: UUID, actor_id: UUID, user_id: UUID) -> None:
    actor_role = await require_role(conn, tenant_id, actor_id, MANAGERS)
    target = await member_or_404(conn, tenant_id, user_id)
    await _check_owner_rules(conn, tenant_id, actor_role, target, None)
    await MembershipRepository(conn).delete(tenant_id, user_id)
    await publish(
        conn,
        MemberRemoved(user_id=str(user_id), tenant_id=str(tenant_id), role=target.role),
        schema=SCHEMA,
        entity_id=user_id,
    )
    await revoke_other_sessions(
        runtime, conn, user_id, keep_session_id=None, reason="member_removed", tenant_id=str(tenant_id)
    )
