"""Per-client-IP rate limit: GCRA in one Lua script, so each request costs one Redis round trip."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from portal_core.logging import get_logger
from portal_core.telemetry import meter
from redis.asyncio import Redis
from redis.exceptions import RedisError

_log = get_logger("gateway.rate_limit")
_redis_failures = meter("gateway").create_counter(
    "gateway.rate_limit.redis_failures", description="Requests let through unchecked because Redis failed"
)

# GCRA (generic cell rate algorithm): one key per client holds the "theoretical arrival time" (TAT).
# A burst of `limit` requests is allowed, then one request per `emission` ms. Redis' own clock is used
# so every gateway instance agrees. Returns {allowed, remaining, retry_after_ms, reset_ms}.
_GCRA = """
local emission = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = emission * limit
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((now - allow_at) / emission), 0, new_tat - now}
"""


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """RateLimit-* (draft-ietf-httpapi-ratelimit-headers); a 429 adds Retry-After through its error."""
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]


class RateLimiter:
    """`check(ip)` spends one request of the client's budget.

    If Redis fails, the request is let through (fail open), with a warning and a metric. The limit
    guards against abuse; a Redis outage must not turn into an outage of the whole API, and the
    services behind keep their own protections. After a failure Redis is skipped for a second, so a
    dead Redis does not add a connect timeout to every request.
    """

    _COOLDOWN_SECONDS = 1.0

    def __init__(self, redis: Redis, *, limit: int, window_seconds: int, key_prefix: str) -> None:
        self._script = redis.register_script(_GCRA)
        self._limit = limit
        self._emission_ms = max(1, round(window_seconds * 1000 / limit))
        self._prefix = f"{key_prefix}rl:"
        self._skip_until = 0.0

    async def check(self, client_ip: str) -> RateDecision | None:
        """The decision, or None when Redis could not be asked (the request goes through)."""
        if self._skip_until and time.monotonic() < self._skip_until:
            _redis_failures.add(1)
            return None
        try:
            allowed, remaining, retry_ms, reset_ms = await self._script(
                keys=[self._prefix + client_ip], args=[self._emission_ms, self._limit]
            )
        except (RedisError, OSError) as exc:
            self._skip_until = time.monotonic() + self._COOLDOWN_SECONDS
            _redis_failures.add(1)
            _log.warning("rate limit not enforced: Redis failed", error=type(exc).__name__)
            return None
        self._skip_until = 0.0
        return RateDecision(
            allowed=bool(allowed),
            limit=self._limit,
            remaining=int(remaining),
            reset_seconds=math.ceil(int(reset_ms) / 1000),
            retry_after_seconds=max(1, math.ceil(int(retry_ms) / 1000)),
        )
