"""GET/PUT /budget: the caller's tenant's AI budget (PUT: tenant admins)."""

from __future__ import annotations

from litestar import get, put
from litestar.datastructures import State
from litestar.params import JSONBody
from portal_core.errors import NotFound
from portal_core.http import CallerIdentity, require_user

from ai_gateway.budgets.repository import BudgetRepository
from ai_gateway.budgets.schemas import BudgetRead, BudgetUpdate
from ai_gateway.policies.access import require_admin


@get("/api/ai/v1/budget", summary="The tenant's AI budget and what this period used", tags=["Budgets"])
async def read_budget(identity: CallerIdentity, state: State) -> BudgetRead:
    caller = require_user(identity)
    async with state.pool.acquire() as conn:
        budget = await BudgetRepository(conn).get(str(caller.tenant_id))
    if budget is None:
        raise NotFound("This tenant has no AI budget (calls are not capped)", code="budget_not_found")
    return _read(budget)


@put("/api/ai/v1/budget", summary="Set the tenant's AI budget (tenant admins)", tags=["Budgets"])
async def put_budget(data: JSONBody[BudgetUpdate], identity: CallerIdentity, state: State) -> BudgetRead:
    caller = require_admin(identity)
    cost_micros = round(data.cost_limit_usd * 1_000_000) if data.cost_limit_usd is not None else None
    async with state.pool.acquire() as conn:
        budget = await BudgetRepository(conn).put(
            str(caller.tenant_id), data.period, data.token_limit, cost_micros or None
        )
    state.chat.tenants.forget(str(caller.tenant_id))  # admission's cached budget (chat/tenant_state.py)
    return _read(budget)


def _read(budget: BudgetRead) -> BudgetRead:
    return BudgetRead(
        period=budget.period,
        period_start=budget.period_start,
        token_limit=budget.token_limit,
        cost_limit_usd=budget.cost_limit_usd,
        tokens_used=budget.tokens_used,
        cost_used_usd=budget.cost_used_usd,
        exhausted=budget.exhausted,
    )
