"""A tenant's policy and budget for admission, read from Postgres at most once a `ttl` per tenant.

Reading them was a pool checkout and a query on every call, ahead of the provider. The cache keeps the
budget guarantees (`tests/test_admission.py`):

- The budget gate counts, on top of the last read, every charge this process made since: the ones the
  ledger committed after the read began, and the ones still queued for it. A budget spent by this
  process's calls therefore blocks its next call at once (before, only once the charge was committed).
- A refusal is never made from the cache: a budget that looks spent is read afresh first, so a limit
  raised elsewhere or a period that rolled over admits the call at once.
- Charges made by other instances are seen at the next read, at most `ttl` later. Like calls admitted
  concurrently, they can overshoot a budget by what they spend in that time; the charge itself stays
  exact (once per call, by the ledger).
- `PUT /budget` and `PUT /policy` drop the tenant's entry here; on other instances they apply within `ttl`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from ai_gateway.budgets.repository import BudgetState
from ai_gateway.chat.repository import TenantStateRepository
from ai_gateway.policies.schemas import PolicyRead

_MAX_ENTRIES = 10_000  # beyond this, expired entries are dropped


@dataclass
class _Spent:
    tokens: int = 0
    cost_micros: int = 0


@dataclass
class _Entry:
    read_at: float
    policy: PolicyRead
    budget: BudgetState | None
    committed_at_read: _Spent  # this process's committed charges when the read began (counted by the read)


class TenantStates:
    def __init__(self, pool: asyncpg.Pool, ttl_seconds: float) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._committed: dict[str, _Spent] = {}  # committed charges since the tenant's entry was first read
        self._queued: dict[str, _Spent] = {}  # charges handed to the ledger writer, not committed yet

    async def get(self, tenant_id: str) -> tuple[PolicyRead, BudgetState | None]:
        """The tenant's policy and budget; the budget's `exhausted` counts this process's latest charges."""
        cached = self._entries.get(tenant_id)
        fresh = cached is None or time.monotonic() - cached.read_at >= self._ttl
        entry = await self._read(tenant_id) if fresh or cached is None else cached
        budget = self._current(tenant_id, entry)
        if budget is not None and budget.exhausted and not fresh:
            entry = await self._read(tenant_id)  # refuse only on what the database says now
            budget = self._current(tenant_id, entry)
        return entry.policy, budget

    def forget(self, tenant_id: str) -> None:
        """The tenant's policy or budget was changed here: read it afresh next time."""
        self._entries.pop(tenant_id, None)

    def queued(self, tenant_id: str, tokens: int, cost_micros: int) -> None:
        """A finished call was handed to the ledger writer: it will be charged."""
        spent = self._queued.setdefault(tenant_id, _Spent())
        spent.tokens += tokens
        spent.cost_micros += cost_micros

    def recorded(self, batch: list[tuple[str, int, int]], charged: list[tuple[str, int, int]]) -> None:
        """The ledger committed `batch` (tenant, tokens, micro-USD); `charged` are the calls it charged (the
        new ones). Called right after the commit, before any other task runs."""
        for tenant_id, tokens, cost in batch:
            spent = self._queued.get(tenant_id)
            if spent is not None:
                spent.tokens -= tokens
                spent.cost_micros -= cost
                if spent.tokens <= 0 and spent.cost_micros <= 0:
                    del self._queued[tenant_id]
        for tenant_id, tokens, cost in charged:
            total = self._committed.get(tenant_id)
            if total is not None:  # no entry yet: the next read counts it
                total.tokens += tokens
                total.cost_micros += cost

    async def _read(self, tenant_id: str) -> _Entry:
        if len(self._entries) > _MAX_ENTRIES:
            self._drop_expired()
        total = self._committed.setdefault(tenant_id, _Spent())
        # Taken before the query: a charge committed while it runs may be counted twice (it is in the
        # read and in the delta), which can only make the gate stricter, and a refusal re-reads anyway.
        committed_at_read = _Spent(total.tokens, total.cost_micros)
        async with self._pool.acquire() as conn:
            policy, budget = await TenantStateRepository(conn).get(tenant_id)
        entry = _Entry(time.monotonic(), policy, budget, committed_at_read)
        self._entries[tenant_id] = entry
        return entry

    def _current(self, tenant_id: str, entry: _Entry) -> BudgetState | None:
        budget = entry.budget
        if budget is None or budget.exhausted:
            return budget
        total = self._committed.get(tenant_id, entry.committed_at_read)
        queued = self._queued.get(tenant_id, _Spent())
        tokens = budget.tokens_used + total.tokens - entry.committed_at_read.tokens + queued.tokens
        cost = round(budget.cost_used_usd * 1_000_000) + total.cost_micros - entry.committed_at_read.cost_micros
        cost += queued.cost_micros
        exhausted = (budget.token_limit is not None and tokens >= budget.token_limit) or (
            budget.cost_limit_usd is not None and cost >= round(budget.cost_limit_usd * 1_000_000)
        )
        return BudgetState(
            period=budget.period,
            period_start=budget.period_start,
            token_limit=budget.token_limit,
            cost_limit_usd=budget.cost_limit_usd,
            tokens_used=tokens,
            cost_used_usd=cost / 1_000_000,
            exhausted=exhausted,
            seconds_to_reset=budget.seconds_to_reset,
        )

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for tenant_id in [t for t, e in self._entries.items() if now - e.read_at >= self._ttl]:
            del self._entries[tenant_id]
            self._committed.pop(tenant_id, None)
