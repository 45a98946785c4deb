"""Abuse limits in Redis: failed sign-ins per account and per client IP, with a lockout that expires.

The account key is the SHA-256 of the normalised email, known or not, so a lockout behaves the same for
unknown emails (no enumeration) and no email sits in Redis in clear.
"""

from __future__ import annotations

import hashlib

from portal_core.errors import TooManyRequests
from redis.asyncio import Redis


class AttemptLimiter:
    """Counts failures per key in a window; at `max_failures` the key is locked for `lockout_seconds`."""

    def __init__(
        self, redis: Redis, key_prefix: str, *, name: str, max_failures: int, window_seconds: int, lockout_seconds: int
    ) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}{name}:"
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.lockout_seconds = lockout_seconds

    async def locked_for(self, key: str) -> int:
        """Seconds left on the lockout of `key` (0 when not locked)."""
        ttl = int(await self._redis.ttl(f"{self._prefix}lock:{key}"))
        return max(ttl, 0)

    async def check(self, *keys: str) -> None:
        """Raise 429 with Retry-After when any of `keys` is locked."""
        for key in keys:
            left = await self.locked_for(key)
            if left:
                raise TooManyRequests(left, "Too many failed attempts; retry after the given delay")

    async def record_failure(self, key: str) -> None:
        counter = f"{self._prefix}fail:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, self.window_seconds, nx=True)
            count, _ = await pipe.execute()
        if int(count) >= self.max_failures:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{self._prefix}lock:{key}", b"1", ex=self.lockout_seconds)
                pipe.delete(counter)
                await pipe.execute()

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"{self._prefix}fail:{key}")


def account_key(normalised_email: str) -> str:
    return "acct:" + hashlib.sha256(normalised_email.encode()).hexdigest()


def ip_key(client_ip: str | None) -> str:
    return f"ip:{client_ip or 'unknown'}"
