"""Requests and tokens per minute, per tenant and per user, in Redis (fixed one-minute windows).

Requests are counted when admitted; tokens are checked before a call (against what was already used
this minute) and added after it, when they are known. One round trip each way (a Lua script).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from portal_core.logging import get_logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ai_gateway.chat.errors import RateLimited

_log = get_logger("ai.limits")
# Below the client's pool size (portal_core.redis: 200), which raises instead of waiting when exhausted.
_MAX_CONCURRENT_CALLS = 150

# KEYS: request counters then token counters; ARGV: request limits, token limits, ttl.
# Returns 0 when admitted, else the 1-based index of the limit hit (nothing is counted then).
_ADMIT = """
local n = #KEYS / 2
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[i]) then return i end
  local tokens = tonumber(redis.call('GET', KEYS[n + i]) or '0')
  if tokens >= tonumber(ARGV[n + i]) then return n + i end
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * n + 1])
end
return 0
"""


@dataclass(frozen=True)
class Limits:
    tenant_requests: int
    user_requests: int
    tenant_tokens: int
    user_tokens: int


class RateLimiter:
    def __init__(self, redis: Redis, limits: Limits, key_prefix: str) -> None:
        self._redis = redis
        self._limits = limits
        self._prefix = key_prefix
        self._admit = redis.register_script(_ADMIT)
        self._slots = asyncio.Semaphore(_MAX_CONCURRENT_CALLS)

    def _keys(self, tenant_id: str, user_id: str, window: int) -> list[str]:
        p = f"{self._prefix}{window}:"
        return [
            f"{p}rq:t:{tenant_id}",
            f"{p}rq:u:{tenant_id}:{user_id}",
            f"{p}tk:t:{tenant_id}",
            f"{p}tk:u:{tenant_id}:{user_id}",
        ]

    async def admit(self, tenant_id: str, user_id: str) -> None:
        """Count one request, or raise RateLimited (429, Retry-After: the rest of this minute)."""
        now = time.time()
        window = int(now // 60)
        limits = self._limits
        args = [limits.tenant_requests, limits.user_requests, limits.tenant_tokens, limits.user_tokens, 120]
        try:
            async with self._slots:
                hit = int(await self._admit(keys=self._keys(tenant_id, user_id, window), args=args))
        except RedisError as exc:
            # Fail open: a sick Redis must not take the AI API down; budgets in Postgres still hold.
            _log.warning("rate limit unavailable, admitting", error=repr(exc))
            return
        if hit:
            what = ("tenant requests", "user requests", "tenant tokens", "user tokens")[hit - 1]
            retry_after = max(1, int(60 - now % 60) + 1)
            raise RateLimited(f"Per-minute limit of {what} reached; retry in {retry_after} s", retry_after=retry_after)

    async def add_tokens(self, used: list[tuple[str, str, int]]) -> None:
        """Add finished calls' tokens (tenant, user, tokens) to this minute's counters, in one round trip."""
        totals: dict[str, int] = {}
        window = int(time.time() // 60)
        for tenant_id, user_id, tokens in used:
            for key in self._keys(tenant_id, user_id, window)[2:]:
                totals[key] = totals.get(key, 0) + tokens
        totals = {k: v for k, v in totals.items() if v > 0}
        if not totals:
            return
        try:
            async with self._slots, self._redis.pipeline(transaction=False) as pipe:
                for key, tokens in totals.items():
                    pipe.incrby(key, tokens)
                    pipe.expire(key, 120)
                await pipe.execute()
        except RedisError as exc:
            _log.warning("token counts not recorded", error=repr(exc), keys=len(totals))
