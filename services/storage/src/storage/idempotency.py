"""`Idempotency-Key` on creating routes: a retry with the same key and body gets the first answer.

Requests with one key are serialized by an advisory lock held for the request, so two concurrent
retries cannot both create. Only successful answers are kept (a refused request changed nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from storage.context import StorageContext
from storage.errors import IdempotencyKeyReused

T = TypeVar("T")


def _fingerprint(route: str, body: object) -> str:
    return hashlib.sha256(route.encode() + b"\0" + msgspec.json.encode(body)).hexdigest()


async def run_once(
    ctx: StorageContext,
    tenant_id: str,
    key: str | None,
    route: str,
    body: object,
    answer_type: type[T],
    create: Callable[[], Awaitable[T]],
) -> T:
    if not key:
        return await create()
    fingerprint = _fingerprint(route, body)
    lock_name = f"storage.idempotency:{tenant_id}:{key}"
    async with ctx.pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock_name)
        try:
            stored = await conn.fetchrow(
                "SELECT request_hash, response FROM storage.idempotency_keys WHERE tenant_id = $1 AND key = $2",
                tenant_id,
                key,
            )
            if stored is not None:
                if stored["request_hash"] != fingerprint:
                    raise IdempotencyKeyReused("This Idempotency-Key was sent with a different request")
                return msgspec.json.decode(stored["response"], type=answer_type)
            answer = await create()
            await conn.execute(
                """
                INSERT INTO storage.idempotency_keys (tenant_id, key, route, request_hash, status_code, response)
                VALUES ($1, $2, $3, $4, 201, $5)
                """,
                tenant_id,
                key,
                route,
                fingerprint,
                msgspec.json.encode(answer),
            )
            return answer
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock_name)
