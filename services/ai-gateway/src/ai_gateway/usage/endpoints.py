"""GET /usage: the caller's tenant's ledger, newest first (house dialect: problem+json, keyset cursor)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter
from portal_core.http import CallerIdentity, require_user
from portal_core.pagination import Cursor, CursorCodec

from ai_gateway.usage.repository import UsageRepository
from ai_gateway.usage.schemas import UsagePage


@get("/api/ai/v1/usage", summary="The caller's tenant's usage ledger, newest first", tags=["Usage"])
async def list_usage(
    identity: CallerIdentity,
    state: State,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> UsagePage:
    caller = require_user(identity)
    cursors: CursorCodec = state.usage_cursors
    after = cursors.decode(cursor, uuid.UUID) if cursor else None
    async with state.pool.acquire() as conn:
        items = await UsageRepository(conn).page(str(caller.tenant_id), limit + 1, after)
    more = len(items) > limit
    items = items[:limit]
    next_cursor = cursors.encode(uuid.UUID(items[-1].id)) if more else None
    return UsagePage(items=items, next_cursor=next_cursor)
