"""The pending second factor: after a correct password (or an OAuth login) of a user with MFA on.

An opaque token, stored by its SHA-256 in Redis for MFA_CHALLENGE_SECONDS, single use.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from identity.security.tokens import new_token, token_hash_hex


class PendingLogin(msgspec.Struct, kw_only=True):
    user_id: str
    tenant_id: str
    method: str


@dataclass(frozen=True)
class MfaChallenge:
    token: str
    expires_in: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PendingLogin)


class ChallengeStore:
    def __init__(self, redis: Redis, key_prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self.ttl_seconds = ttl_seconds

    def _key(self, token: str) -> str:
        return f"{self._prefix}mfa-challenge:{token_hash_hex(token)}"

    async def create(self, user_id: str, tenant_id: str, method: str) -> MfaChallenge:
        token = new_token()
        pending = PendingLogin(user_id=user_id, tenant_id=tenant_id, method=method)
        await self._redis.set(self._key(token), _encoder.encode(pending), ex=self.ttl_seconds)
        return MfaChallenge(token=token, expires_in=self.ttl_seconds)

    async def get(self, token: str) -> PendingLogin | None:
        raw = await self._redis.get(self._key(token))
        return None if raw is None else _decoder.decode(raw)

    async def consume(self, token: str) -> bool:
        """Delete the challenge; False if it was already used (two racing requests: one wins)."""
        return bool(await self._redis.delete(self._key(token)))
