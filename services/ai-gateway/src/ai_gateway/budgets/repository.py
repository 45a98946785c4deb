"""All SQL of budgets. The current period's start is computed in SQL, so a rollover needs no job."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from portal_db import Connection

from ai_gateway.budgets.schemas import BudgetRead, Period
from ai_gateway.settings import SCHEMA

_CURRENT_START = "(CASE period WHEN 'never' THEN period_start ELSE date_trunc(period, now(), 'UTC') END)"
_NEXT_START = f"({_CURRENT_START} + CASE period WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '1 week' ELSE interval '1 month' END)"  # noqa: E501


# What `budget_state` reads, for a query on `budgets` (also joined by chat/repository.py's admission query).
BUDGET_COLUMNS = f"""
    period, token_limit, cost_limit_micros, {_CURRENT_START} AS current_start,
    CASE WHEN {_CURRENT_START} > period_start THEN 0 ELSE tokens_used END AS tokens_used,
    CASE WHEN {_CURRENT_START} > period_start THEN 0 ELSE cost_used_micros END AS cost_used_micros,
    CASE WHEN period = 'never' THEN NULL
         ELSE ceil(extract(epoch FROM {_NEXT_START} - now()))::int END AS seconds_to_reset
"""


class BudgetState(BudgetRead):
    seconds_to_reset: int | None = None


class BudgetRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, tenant_id: str) -> BudgetState | None:
        query = f"SELECT {BUDGET_COLUMNS} FROM {SCHEMA}.budgets WHERE tenant_id = $1"
        row = await self._conn.fetchrow(query, tenant_id)
        return None if row is None else budget_state(row)

    async def put(
        self, tenant_id: str, period: Period, token_limit: int | None, cost_limit_micros: int | None
    ) -> BudgetState:
        # A new period kind starts counting afresh; changing only the limits keeps what was used.
        await self._conn.execute(
            f"""
            INSERT INTO {SCHEMA}.budgets (tenant_id, period, token_limit, cost_limit_micros, period_start)
            VALUES ($1, $2, $3, $4, CASE WHEN $2 = 'never' THEN now() ELSE date_trunc($2, now(), 'UTC') END)
            ON CONFLICT (tenant_id) DO UPDATE SET
                token_limit = EXCLUDED.token_limit,
                cost_limit_micros = EXCLUDED.cost_limit_micros,
                tokens_used = CASE WHEN budgets.period = EXCLUDED.period THEN budgets.tokens_used ELSE 0 END,
                cost_used_micros = CASE WHEN budgets.period = EXCLUDED.period THEN budgets.cost_used_micros ELSE 0 END,
                period_start = CASE WHEN budgets.period = EXCLUDED.period THEN budgets.period_start
                                    ELSE EXCLUDED.period_start END,
                period = EXCLUDED.period,
                updated_at = now()
            """,
            tenant_id,
            period,
            token_limit,
            cost_limit_micros,
        )
        state = await self.get(tenant_id)
        assert state is not None
        return state

    async def charge_many(self, charges: dict[str, tuple[int, int]]) -> None:
        """Add finished calls' tokens and cost per tenant (tenant -> (tokens, micro-USD)) in one statement,
        resetting first a budget whose period rolled over since its last charge."""
        if not charges:
            return
        tenants = list(charges)
        await self._conn.execute(
            f"""
            UPDATE {SCHEMA}.budgets SET
                tokens_used = CASE WHEN {_CURRENT_START} > period_start THEN 0 ELSE tokens_used END + c.tokens,
                cost_used_micros = CASE WHEN {_CURRENT_START} > period_start THEN 0 ELSE cost_used_micros END + c.cost,
                period_start = {_CURRENT_START},
                updated_at = now()
            FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS c(tenant_id, tokens, cost)
            WHERE budgets.tenant_id = c.tenant_id
            """,
            tenants,
            [charges[t][0] for t in tenants],
            [charges[t][1] for t in tenants],
        )


def budget_state(row: asyncpg.Record) -> BudgetState:
    """A row of BUDGET_COLUMNS as the budget's current state."""
    token_limit, cost_limit = row["token_limit"], row["cost_limit_micros"]
    exhausted = (token_limit is not None and row["tokens_used"] >= token_limit) or (
        cost_limit is not None and row["cost_used_micros"] >= cost_limit
    )
    start: datetime = row["current_start"]
    return BudgetState(
        period=row["period"],
        period_start=start,
        token_limit=token_limit,
        cost_limit_usd=None if cost_limit is None else cost_limit / 1_000_000,
        tokens_used=row["tokens_used"],
        cost_used_usd=row["cost_used_micros"] / 1_000_000,
        exhausted=exhausted,
        seconds_to_reset=row["seconds_to_reset"],
    )
