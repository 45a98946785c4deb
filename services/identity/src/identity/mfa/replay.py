"""TOTP replay guard: a code is accepted once per user per time step.

The record of a used step lives (2*window+1)*period seconds: as long as any code of that step could
still be accepted, so a replay can never slip in after the record expires.
"""

from __future__ import annotations

from redis.asyncio import Redis

TOTP_PERIOD_SECONDS = 30


class TotpReplayGuard:
    def __init__(self, redis: Redis, key_prefix: str, valid_window: int) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self.record_ttl_seconds = (2 * valid_window + 1) * TOTP_PERIOD_SECONDS

    async def claim(self, user_id: str, time_step: int) -> bool:
        """True the first time (user, step) is claimed; False for a replay."""
        key = f"{self._prefix}totp-used:{user_id}:{time_step}"
        return bool(await self._redis.set(key, b"1", nx=True, ex=self.record_ttl_seconds))
