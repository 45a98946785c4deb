"""Helpers the AI gateway tests share (conftest holds the fixtures)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import asyncpg
from ai_gateway.usage.starts import CallStart
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from portal_core.ids import new_id

SIGNER = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK)


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    user_id: str
    roles: tuple[str, ...] = ()

    @property
    def assertion(self) -> str:
        identity = Identity(tenant_id=self.tenant_id, user_id=self.user_id, roles=self.roles)
        return SIGNER.mint(identity, "ai")

    @property
    def headers(self) -> dict[str, str]:
        return {"x-portal-identity": self.assertion}

    def colleague(self, *roles: str) -> Caller:
        return Caller(self.tenant_id, f"user-{uuid.uuid4().hex[:8]}", roles)


def new_caller(*roles: str) -> Caller:
    return Caller(f"tenant-{uuid.uuid4().hex[:12]}", f"user-{uuid.uuid4().hex[:8]}", roles)


async def usage_rows(db: asyncpg.Pool, tenant_id: str, wait_for: int = 1, timeout: float = 5.0) -> list[asyncpg.Record]:
    """The tenant's ledger rows, waiting (briefly) for `wait_for` of them: a stream is recorded as it closes."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch("SELECT * FROM ai.usage WHERE tenant_id = $1 ORDER BY id", tenant_id)
        if len(rows) >= wait_for or time.monotonic() > deadline:
            return list(rows)
        await asyncio.sleep(0.05)


def call_start(caller: Caller, call_id: str | None = None, input_tokens: int = 3) -> CallStart:
    """A plain `local/echo` completion's start row, for `caller`."""
    return CallStart(
        id=call_id or str(new_id()),
        tenant_id=caller.tenant_id,
        user_id=caller.user_id,
        endpoint="chat.completions",
        stream=False,
        model_requested="local/echo",
        input_tokens=input_tokens,
        cost_micros=0,
        trace_id=None,
    )
