"""All SQL on tenants."""

from __future__ import annotations

from uuid import UUID

from portal_db import Connection

from identity.settings import SCHEMA


class TenantRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, tenant_id: UUID, name: str) -> None:
        await self._conn.execute(f"INSERT INTO {SCHEMA}.tenants (id, name) VALUES ($1, $2)", tenant_id, name)

    async def name_of(self, tenant_id: UUID) -> str | None:
        name: str | None = await self._conn.fetchval(f"SELECT name FROM {SCHEMA}.tenants WHERE id = $1", tenant_id)
        return name
