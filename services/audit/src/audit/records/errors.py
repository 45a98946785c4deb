"""The audit API's business errors (rendered as problem+json by portal_core)."""

from __future__ import annotations

from portal_core.errors import BadRequest, Forbidden, NotFound


class InvalidFilter(BadRequest):
    code = "invalid_filter"


class NotTenantAdmin(Forbidden):
    code = "not_tenant_admin"

    def __init__(self) -> None:
        super().__init__("Only the tenant's owners and admins read its audit log")


class RecordNotFound(NotFound):
    code = "record_not_found"

    def __init__(self) -> None:
        super().__init__("No such audit record")
