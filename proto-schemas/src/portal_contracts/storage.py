"""Events the storage service publishes: uploads, objects created, moved and deleted, quotas exceeded."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from portal_contracts.base import EventData, event

_Id = Annotated[str, msgspec.Meta(description="object id (UUIDv7)")]
_Tenant = Annotated[str, msgspec.Meta(description="tenant that owns the object")]
_Path = Annotated[str, msgspec.Meta(description="display path inside the tenant, e.g. `reports/2026/q1.pdf`")]
_At = Annotated[datetime, msgspec.Meta(tz=True, description="when it happened (UTC)")]


@event("portal.storage.upload.started.v1", description="A client was handed URLs to upload an object's bytes.")
class UploadStarted(EventData, kw_only=True, frozen=True):
    object_id: _Id
    tenant_id: _Tenant
    owner_id: Annotated[str, msgspec.Meta(description="user who started the upload")]
    path: _Path
    size: Annotated[int, msgspec.Meta(ge=0, description="declared size in bytes")]
    content_type: str
    method: Annotated[str, msgspec.Meta(description="`post` (presigned POST policy) or `multipart`")]
    occurred_at: _At


@event("portal.storage.object.created.v1", description="An object's bytes were verified and it is ready to read.")
class ObjectCreated(EventData, kw_only=True, frozen=True):
    object_id: _Id
    tenant_id: _Tenant
    owner_id: str
    path: _Path
    size: Annotated[int, msgspec.Meta(ge=0)]
    content_type: str
    sha256: Annotated[str, msgspec.Meta(description="hex SHA-256 of the bytes, as verified")]
    copied_from: Annotated[str | None, msgspec.Meta(description="source object id when created by a copy")] = None
    occurred_at: _At


@event("portal.storage.object.deleted.v1", description="A ready object was deleted (its bytes follow shortly).")
class ObjectDeleted(EventData, kw_only=True, frozen=True):
    object_id: _Id
    tenant_id: _Tenant
    path: _Path
    size: Annotated[int, msgspec.Meta(ge=0)]
    deleted_by: Annotated[str | None, msgspec.Meta(description="user who deleted it")] = None
    occurred_at: _At


@event("portal.storage.object.moved.v1", description="An object was renamed or moved to another path.")
class ObjectMoved(EventData, kw_only=True, frozen=True):
    object_id: _Id
    tenant_id: _Tenant
    old_path: _Path
    new_path: _Path
    occurred_at: _At


@event(
    "portal.storage.quota.exceeded.v1", description="An upload or copy was refused because the tenant's quota is full."
)
class QuotaExceeded(EventData, kw_only=True, frozen=True):
    tenant_id: _Tenant
    user_id: Annotated[str | None, msgspec.Meta(description="user whose request was refused")] = None
    requested_bytes: Annotated[int, msgspec.Meta(ge=0)]
    used_bytes: Annotated[int, msgspec.Meta(ge=0, description="bytes in use or reserved when refused")]
    quota_bytes: Annotated[int, msgspec.Meta(ge=0)]
    occurred_at: _At
