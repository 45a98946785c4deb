"""HTTP: a tenant admin checks the tenant's chain (the same walk as `python -m audit verify`)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State
from portal_core.http import CallerIdentity

from audit.chain.verify import ChainReport, verify_tenant
from audit.records.service import require_tenant_admin


class ChainController(Controller):
    path = "/api/audit/v1/chain"
    tags = ["chain"]

    @get("/verification", summary="Verify the tenant's hash chain against its signed checkpoints")
    async def verify(self, identity: CallerIdentity, state: State) -> ChainReport:
        tenant_id = require_tenant_admin(identity)
        async with state.pool.acquire() as conn:
            return await verify_tenant(conn, tenant_id, state.signer)
