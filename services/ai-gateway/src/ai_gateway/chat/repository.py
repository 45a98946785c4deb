"""The one read admission makes: a tenant's policy and budget state, in one round trip."""

from __future__ import annotations

from portal_db import Connection

from ai_gateway.budgets.repository import BUDGET_COLUMNS, BudgetState, budget_state
from ai_gateway.policies.repository import policy_from_row
from ai_gateway.policies.schemas import PolicyRead
from ai_gateway.settings import SCHEMA

# One row whether or not the tenant has a policy or a budget: the LEFT JOINs leave their columns null.
_TENANT_STATE = f"""
SELECT p.allowed_models, p.store_content, b.*
FROM (SELECT $1::text AS tenant_id) AS t
LEFT JOIN {SCHEMA}.tenant_policies AS p ON p.tenant_id = t.tenant_id
LEFT JOIN LATERAL (
    SELECT true AS budget_found, {BUDGET_COLUMNS} FROM {SCHEMA}.budgets WHERE budgets.tenant_id = t.tenant_id
) AS b ON true
"""


class TenantStateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, tenant_id: str) -> tuple[PolicyRead, BudgetState | None]:
        row = await self._conn.fetchrow(_TENANT_STATE, tenant_id)
        assert row is not None  # the FROM has exactly one row
        return policy_from_row(row), budget_state(row) if row["budget_found"] else None
