"""Requests and tokens per minute, per tenant and per user, on portal_core's shared GCRA limiter.

A call is admitted only if all four rates have room: it spends one request from each request rate,
and asks (cost 0) whether the token rates are out of debt. Tokens are known only after the call; they
are then charged to the token rates, which may go into debt and refuse calls until it has drained at
the configured rate. Rates refill smoothly (GCRA), so there is no minute boundary to game.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from portal_core.rate_limit import Rate, RateLimiter, Spend

from ai_gateway.chat.errors import RateLimited

_MINUTE = 60.0
# What each of admit()'s spends counts, in their order: a refusal names it.
_NAMES = ("tenant requests", "user requests", "tenant tokens", "user tokens")


@dataclass(frozen=True)
class Limits:
    tenant_requests: int
    user_requests: int
    tenant_tokens: int
    user_tokens: int


class CallLimits:
    def __init__(self, limiter: RateLimiter, limits: Limits) -> None:
        self._limiter = limiter
        self._tenant_requests = Rate(limits.tenant_requests, _MINUTE)
        self._user_requests = Rate(limits.user_requests, _MINUTE)
        self._tenant_tokens = Rate(limits.tenant_tokens, _MINUTE)
        self._user_tokens = Rate(limits.user_tokens, _MINUTE)

    async def admit(self, tenant_id: str, user_id: str) -> None:
        """Count one request, or raise RateLimited (429 with Retry-After). Admits when Redis is down."""
        spends = (
            Spend(f"rq:t:{tenant_id}", self._tenant_requests),
            Spend(f"rq:u:{tenant_id}:{user_id}", self._user_requests),
            *self._token_spends(tenant_id, user_id, 0),
        )
        decision = await self._limiter.acquire(*spends)
        if decision is None or decision.allowed:  # None: Redis is down; budgets in Postgres still hold
            return
        assert decision.refused is not None
        what = _NAMES[spends.index(decision.refused)]
        retry_after = decision.retry_after_seconds
        raise RateLimited(f"Per-minute limit of {what} reached; retry in {retry_after} s", retry_after=retry_after)

    async def add_tokens(self, used: list[tuple[str, str, int]]) -> None:
        """Charge finished calls' tokens (tenant, user, tokens) to the token rates."""
        totals: dict[str, Spend] = {}  # one spend per key: a user may have finished several calls
        for tenant_id, user_id, tokens in used:
            for spend in self._token_spends(tenant_id, user_id, tokens):
                earlier = totals.get(spend.key)
                totals[spend.key] = replace(spend, cost=spend.cost + (earlier.cost if earlier else 0))
        spends = [spend for spend in totals.values() if spend.cost > 0]
        if spends:
            await self._limiter.charge(*spends)

    async def flush(self) -> None:
        """Send the counts still owed to Redis (on shutdown)."""
        await self._limiter.flush()

    def _token_spends(self, tenant_id: str, user_id: str, tokens: int) -> tuple[Spend, Spend]:
        return (
            Spend(f"tk:t:{tenant_id}", self._tenant_tokens, tokens),
            Spend(f"tk:u:{tenant_id}:{user_id}", self._user_tokens, tokens),
        )
