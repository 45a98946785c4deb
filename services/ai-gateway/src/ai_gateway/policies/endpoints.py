"""GET/PUT /policy: which models the caller's tenant may use, and whether prompts and outputs are kept."""

from __future__ import annotations

from litestar import get, put
from litestar.datastructures import State
from litestar.params import JSONBody
from portal_core.http import CallerIdentity, require_user

from ai_gateway.policies.access import require_admin
from ai_gateway.policies.repository import PolicyRepository
from ai_gateway.policies.schemas import PolicyRead, PolicyUpdate


@get("/api/ai/v1/policy", summary="The tenant's model policy", tags=["Policies"])
async def read_policy(identity: CallerIdentity, state: State) -> PolicyRead:
    caller = require_user(identity)
    async with state.pool.acquire() as conn:
        return await PolicyRepository(conn).get(str(caller.tenant_id))


@put("/api/ai/v1/policy", summary="Set which models the tenant may use and whether content is kept", tags=["Policies"])
async def put_policy(data: JSONBody[PolicyUpdate], identity: CallerIdentity, state: State) -> PolicyRead:
    caller = require_admin(identity)
    async with state.pool.acquire() as conn:
        policy = await PolicyRepository(conn).put(str(caller.tenant_id), data.allowed_models, data.store_content)
    state.chat.tenants.forget(str(caller.tenant_id))  # admission's cached policy (chat/tenant_state.py)
    return policy
