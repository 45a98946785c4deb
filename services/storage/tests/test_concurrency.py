"""Concurrent creates: the quota reservation is atomic, and one Idempotency-Key creates once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from portal_core.assertion import Identity
from storage_support import SIGNER, ServedStorage

MIB = 1024 * 1024


def _body(n: int, size: int) -> dict[str, Any]:
    return {"path": f"race/{n}.bin", "size": size, "content_type": "application/octet-stream", "sha256": "0" * 64}


def _caller() -> Identity:
    return Identity(tenant_id=f"race-{uuid.uuid4().hex[:8]}", user_id="racer")


async def test_concurrent_uploads_never_overrun_the_quota(served_storage: ServedStorage) -> None:
    async with served_storage.api(_caller(), SIGNER) as api:
        answers = await asyncio.gather(*(api.post("/uploads", json=_body(n, 30 * MIB)) for n in range(10)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 6 + [403] * 4  # 6 x 30 MiB fit the 200 MiB quota, the 7th would not
        assert (await api.get("/usage")).json()["used_bytes"] == 180 * MIB


async def test_concurrent_retries_with_one_key_create_once(served_storage: ServedStorage) -> None:
    key = {"Idempotency-Key": "same-key-concurrently"}
    async with served_storage.api(_caller(), SIGNER) as api:
        answers = await asyncio.gather(*(api.post("/uploads", json=_body(0, 10), headers=key) for _ in range(5)))
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["id"] for a in answers}) == 1
        assert (await api.get("/usage")).json()["used_bytes"] == 10
