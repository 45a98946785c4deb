"""All SQL on memberships (a user's role in a tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec
from portal_db import Connection

from identity.settings import SCHEMA

Role = Literal["owner", "admin", "member"]


class MemberRow(msgspec.Struct, frozen=True, kw_only=True):
    user_id: UUID
    tenant_id: UUID
    email: str
    display_name: str | None
    role: Role
    created_at: datetime


_MEMBER_SELECT = f"""
    SELECT m.user_id, m.tenant_id, u.email, u.display_name, m.role, m.created_at
    FROM {SCHEMA}.memberships m JOIN {SCHEMA}.users u ON u.id = m.user_id
"""


class MembershipRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, tenant_id: UUID, user_id: UUID, role: Role) -> bool:
        """False when the user is already a member of the tenant."""
        done = await self._conn.execute(
            f"INSERT INTO {SCHEMA}.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            tenant_id,
            user_id,
            role,
        )
        return done.endswith(" 1")

    async def role_of(self, tenant_id: UUID, user_id: UUID) -> Role | None:
        role: Role | None = await self._conn.fetchval(
            f"SELECT role FROM {SCHEMA}.memberships WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id
        )
        return role

    async def first_tenant_of(self, user_id: UUID) -> UUID | None:
        """The tenant the user joined first (where a sign-in lands when it names none)."""
        tenant: UUID | None = await self._conn.fetchval(
            f"SELECT tenant_id FROM {SCHEMA}.memberships WHERE user_id = $1 ORDER BY created_at, tenant_id LIMIT 1",
            user_id,
        )
        return tenant

    async def get(self, tenant_id: UUID, user_id: UUID) -> MemberRow | None:
        row = await self._conn.fetchrow(
            f"{_MEMBER_SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2", tenant_id, user_id
        )
        return None if row is None else MemberRow(**dict(row))

    async def page(self, tenant_id: UUID, after: UUID | None, limit: int) -> list[MemberRow]:
        rows = await self._conn.fetch(
            f"{_MEMBER_SELECT} WHERE m.tenant_id = $1 AND ($2::uuid IS NULL OR m.user_id > $2) "
            "ORDER BY m.user_id LIMIT $3",
            tenant_id,
            after,
            limit,
        )
        return [MemberRow(**dict(r)) for r in rows]

    async def lock_owners(self, tenant_id: UUID) -> list[UUID]:
        """The tenant's owners, rows locked until commit (two admins demoting the last two owners serialise)."""
        rows = await self._conn.fetch(
            f"SELECT user_id FROM {SCHEMA}.memberships WHERE tenant_id = $1 AND role = 'owner' FOR UPDATE", tenant_id
        )
        return [r["user_id"] for r in rows]

    async def set_role(self, tenant_id: UUID, user_id: UUID, role: Role) -> None:
        await self._conn.execute(
            f"UPDATE {SCHEMA}.memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id, role
        )

    async def delete(self, tenant_id: UUID, user_id: UUID) -> None:
        await self._conn.execute(
            f"DELETE FROM {SCHEMA}.memberships WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id
        )
