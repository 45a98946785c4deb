"""The sign-in failure event, written in its own transaction (the failed attempt's was rolled back)."""

from __future__ import annotations

from uuid import UUID

from portal_contracts.identity import LoginFailed
from portal_core.logging import get_logger
from portal_events import publish

from identity.runtime import Runtime
from identity.settings import SCHEMA

_log = get_logger("identity.auth")


async def record_login_failure(
    runtime: Runtime, *, reason: str, method: str, user_id: UUID | None = None, tenant_id: UUID | str | None = None
) -> None:
    _log.info("sign-in refused", reason=reason, method=method, user_id=None if user_id is None else str(user_id))
    async with runtime.pool.acquire() as conn, conn.transaction():
        await publish(
            conn,
            LoginFailed(reason=reason, method=method, user_id=None if user_id is None else str(user_id)),
            schema=SCHEMA,
            actor_id=user_id,
            tenant_id=tenant_id,
            entity_id=user_id,
            outcome="failure",
        )
