"""The Redis session store on its own: sliding and absolute expiry, revocation, hashed keys."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import redis.asyncio as aioredis
from identity.sessions.store import SessionStore
from identity_support import IDENTITY_PREFIX
from portal_core.test_infra import redis_address


async def test_sliding_expiry_extends_a_used_session_until_the_absolute_limit() -> None:
    host, port = redis_address()
    client = aioredis.Redis(host=host, port=port)
    prefix = f"{IDENTITY_PREFIX}store:{uuid.uuid4().hex}:"
    store = SessionStore(client, prefix, idle_seconds=0.6, absolute_seconds=1.5, touch_interval_seconds=0)
    try:
        used = await store.create("user-1", "tenant-1", mfa=False, method="password")
        idle = await store.create("user-1", "tenant-1", mfa=False, method="password")
        for _ in range(3):  # 0.9 s of use: each resolve pushes the idle deadline forward
            await asyncio.sleep(0.3)
            assert await store.resolve(used.token) is not None
        assert await store.resolve(idle.token) is None  # idle for more than 0.6 s
        await asyncio.sleep(0.7)  # past the absolute limit (1.5 s) even though it was used recently
        assert await store.resolve(used.token) is None
    finally:
        await client.aclose()


async def test_tokens_are_stored_only_as_hashes_and_revocation_is_immediate() -> None:
    host, port = redis_address()
    client = aioredis.Redis(host=host, port=port)
    prefix = f"{IDENTITY_PREFIX}store:{uuid.uuid4().hex}:"
    store = SessionStore(client, prefix, idle_seconds=60, absolute_seconds=120)
    try:
        issued = await store.create("user-2", "tenant-1", mfa=True, method="password", client_ip="10.0.0.1")
        keys = [k.decode() async for k in client.scan_iter(match=f"{prefix}*")]
        assert f"{prefix}session:{hashlib.sha256(issued.token.encode()).hexdigest()}" in keys
        for key in keys:
            assert issued.token not in key
            value = await client.get(key) if key.startswith(f"{prefix}session:") else b""
            assert issued.token.encode() not in (value or b"")
            assert issued.csrf_token.encode() not in (value or b"")
        listed = await store.list_for_user("user-2")
        assert [r.id for r in listed] == [issued.record.id]
        assert await store.revoke("user-2", issued.record.id) is True
        assert await store.resolve(issued.token) is None
        assert await store.revoke("user-2", issued.record.id) is False
        assert await store.list_for_user("user-2") == []
    finally:
        await client.aclose()
