"""HTTP: a tenant admin reads and sets how long the tenant's audit records are kept."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.datastructures import State
from litestar.params import JSONBody
from portal_core.http import CallerIdentity

from audit.records.service import require_tenant_admin
from audit.retention import repository
from audit.retention.schemas import RetentionRead, RetentionUpdate


class RetentionController(Controller):
    path = "/api/audit/v1/retention"
    tags = ["retention"]

    @get("", summary="The tenant's retention period")
    async def read(self, identity: CallerIdentity, state: State) -> RetentionRead:
        tenant_id = require_tenant_admin(identity)
        async with state.pool.acquire() as conn:
            days = await repository.retention_days(conn, tenant_id)
        default = state.settings.audit_default_retention_days
        return RetentionRead(retention_days=days or default, is_default=days is None)

    @put("", summary="Set the tenant's retention period (records older than it are removed by the retention job)")
    async def update(self, data: JSONBody[RetentionUpdate], identity: CallerIdentity, state: State) -> RetentionRead:
        tenant_id = require_tenant_admin(identity)
        async with state.pool.acquire() as conn:
            await repository.set_retention_days(conn, tenant_id, data.retention_days)
        return RetentionRead(retention_days=data.retention_days, is_default=False)
