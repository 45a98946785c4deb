"""Sessions in Redis: opaque 256-bit tokens, stored by their SHA-256, with sliding and absolute expiry.

Keys (under REDIS_KEY_PREFIX):
  session:<sha256(token)>  -> the SessionRecord (msgpack), TTL = min(idle left, absolute left)
  user-sessions:<user_id>  -> hash session_id -> sha256(token), to list and revoke a user's sessions
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

import msgspec
from portal_core.ids import new_id
from redis.asyncio import Redis

from identity.security.tokens import new_token, token_hash_hex

# Sliding expiry is refreshed at most this often per session: one Redis write per session per interval.
_TOUCH_INTERVAL_SECONDS = 30.0


class SessionRecord(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    tenant_id: str
    mfa: bool
    method: str
    created_at: float
    last_seen_at: float
    absolute_expires_at: float
    csrf_hash: str
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class IssuedSession:
    """A new session: the token and CSRF token exist only here, in the response to the client."""

    token: str
    csrf_token: str
    record: SessionRecord


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SessionRecord)


class SessionStore:
    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        idle_seconds: float,
        absolute_seconds: float,
        *,
        touch_interval_seconds: float = _TOUCH_INTERVAL_SECONDS,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._touch_interval = touch_interval_seconds

    def _key(self, hashed: str) -> str:
        return f"{self._prefix}session:{hashed}"

    def _index(self, user_id: str | UUID) -> str:
        return f"{self._prefix}user-sessions:{user_id}"

    async def create(
        self,
        user_id: str | UUID,
        tenant_id: str | UUID,
        *,
        mfa: bool,
        method: str,
        client_ip: str | None = None,
        user_agent: str | None = None,
    ) -> IssuedSession:
        token, csrf_token = new_token(), new_token()
        now = time.time()
        record = SessionRecord(
            id=str(new_id()),
            user_id=str(user_id),
            tenant_id=str(tenant_id),
            mfa=mfa,
            method=method,
            created_at=now,
            last_seen_at=now,
            absolute_expires_at=now + self.absolute_seconds,
            csrf_hash=token_hash_hex(csrf_token),
            client_ip=client_ip,
            user_agent=user_agent,
        )
        hashed = token_hash_hex(token)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(hashed), _encoder.encode(record), px=int(self.idle_seconds * 1000))
            pipe.hset(self._index(user_id), record.id, hashed)
            pipe.expire(self._index(user_id), int(self.absolute_seconds) + 1)
            await pipe.execute()
        return IssuedSession(token=token, csrf_token=csrf_token, record=record)

    async def get(self, token: str) -> SessionRecord | None:
        """The live session for `token` (no touch), or None."""
        return await self._load(token_hash_hex(token))

    async def resolve(self, token: str) -> SessionRecord | None:
        """The live session for `token`, its sliding expiry pushed forward; None when unknown or expired."""
        hashed = token_hash_hex(token)
        record = await self._load(hashed)
        if record is None:
            return None
        now = time.time()
        if now - record.last_seen_at >= self._touch_interval:
            record.last_seen_at = now
            ttl_ms = int(min(self.idle_seconds, record.absolute_expires_at - now) * 1000)
            if ttl_ms < 1:
                return None
            # XX: a session revoked since the read above is not brought back to life.
            await self._redis.set(self._key(hashed), _encoder.encode(record), px=ttl_ms, xx=True)
        return record

    async def _load(self, hashed: str) -> SessionRecord | None:
        raw = await self._redis.get(self._key(hashed))
        if raw is None:
            return None
        record = _decoder.decode(_bytes(raw))
        if record.absolute_expires_at <= time.time():
            return None
        return record

    async def mark_mfa_passed(self, user_id: str | UUID, session_id: str) -> None:
        """The session's user just proved the second factor (MFA confirmed with a code in it)."""
        hashed = await self._redis.hget(self._index(user_id), session_id)
        record = None if hashed is None else await self._load(_text(hashed))
        if hashed is not None and record is not None and not record.mfa:
            record.mfa = True
            await self._redis.set(self._key(_text(hashed)), _encoder.encode(record), keepttl=True, xx=True)

    async def list_for_user(self, user_id: str | UUID) -> list[SessionRecord]:
        """The user's live sessions, oldest first (dead index entries are pruned on the way)."""
        index = await self._redis.hgetall(self._index(user_id))
        if not index:
            return []
        ids = list(index)
        raws = await self._redis.mget([self._key(_text(index[i])) for i in ids])
        live: list[SessionRecord] = []
        dead: list[bytes | str] = []
        now = time.time()
        for session_id, raw in zip(ids, raws, strict=True):
            record = _decoder.decode(_bytes(raw)) if raw is not None else None
            if record is None or record.absolute_expires_at <= now:
                dead.append(session_id)
            else:
                live.append(record)
        if dead:
            await self._redis.hdel(self._index(user_id), *dead)
        return sorted(live, key=lambda r: r.id)

    async def revoke(self, user_id: str | UUID, session_id: str) -> bool:
        """End one of the user's sessions; False when the user has no such live session."""
        hashed = await self._redis.hget(self._index(user_id), session_id)
        if hashed is None:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(_text(hashed)))
            pipe.hdel(self._index(user_id), session_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def revoke_all(
        self, user_id: str | UUID, *, except_session_id: str | None = None, tenant_id: str | None = None
    ) -> list[str]:
        """End the user's sessions (all, all but one, or those in one tenant); the ids of those ended."""
        ended = []
        for record in await self.list_for_user(user_id):
            if record.id == except_session_id or (tenant_id is not None and record.tenant_id != tenant_id):
                continue
            if await self.revoke(user_id, record.id):
                ended.append(record.id)
        return ended
