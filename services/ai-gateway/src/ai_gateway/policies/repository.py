"""All SQL of tenant policies."""

from __future__ import annotations

import asyncpg
from portal_db import Connection

from ai_gateway.policies.schemas import PolicyRead
from ai_gateway.settings import SCHEMA


class PolicyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, tenant_id: str) -> PolicyRead:
        row = await self._conn.fetchrow(
            f"SELECT allowed_models, store_content FROM {SCHEMA}.tenant_policies WHERE tenant_id = $1", tenant_id
        )
        return policy_from_row(row)

    async def put(self, tenant_id: str, allowed_models: list[str] | None, store_content: bool) -> PolicyRead:
        await self._conn.execute(
            f"""
            INSERT INTO {SCHEMA}.tenant_policies (tenant_id, allowed_models, store_content) VALUES ($1, $2, $3)
            ON CONFLICT (tenant_id) DO UPDATE
                SET allowed_models = EXCLUDED.allowed_models, store_content = EXCLUDED.store_content, updated_at = now()
            """,
            tenant_id,
            allowed_models,
            store_content,
        )
        return PolicyRead(allowed_models=allowed_models, store_content=store_content)


def policy_from_row(row: asyncpg.Record | None) -> PolicyRead:
    """`allowed_models` and `store_content` of a row (null columns: no policy set, the defaults)."""
    if row is None or row["store_content"] is None:
        return PolicyRead(allowed_models=None, store_content=False)
    models = row["allowed_models"]
    return PolicyRead(allowed_models=list(models) if models is not None else None, store_content=row["store_content"])
