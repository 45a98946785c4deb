"""Per-tenant quotas and per-upload limits (configured defaults, overridden per tenant in tenant_quotas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import asyncpg
from portal_core.assertion import Identity
from portal_db import Connection

from storage.errors import ContentTypeNotAllowed, QuotaExceeded, UploadTooLarge
from storage.objects import events
from storage.objects.repository import UsageRepository
from storage.settings import StorageSettings


@dataclass(frozen=True)
class Limits:
    quota_bytes: int
    max_upload_bytes: int


class QuotaFull(Exception):
    def __init__(self, requested: int, used: int, quota: int) -> None:
        super().__init__(f"{requested} bytes do not fit: {used} of {quota} used")
        self.requested, self.used, self.quota = requested, used, quota


async def limits(conn: Connection, settings: StorageSettings, tenant_id: str) -> Limits:
    quota, max_upload = await UsageRepository(conn).limits(tenant_id)
    return Limits(
        quota if quota is not None else settings.storage_default_quota_bytes,
        max_upload if max_upload is not None else settings.storage_max_upload_bytes,
    )


def check_content_type(settings: StorageSettings, content_type: str) -> None:
    if not content_type_allowed(settings.storage_allowed_content_types, content_type):
        raise ContentTypeNotAllowed(f"`{content_type}` may not be uploaded here")


def content_type_allowed(allowed: str, content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    for pattern in (p.strip().lower() for p in allowed.split(",") if p.strip()):
        if pattern in ("*", "*/*") or pattern == kind:
            return True
        if pattern.endswith("/*") and kind.startswith(pattern[:-1]):
            return True
    return False


async def reserve(
    conn: Connection, settings: StorageSettings, tenant_id: str, size: int, *, per_upload_limit: bool = True
) -> None:
    """Reserve `size` bytes of the tenant's quota, or UploadTooLarge / QuotaFull (nothing reserved then)."""
    usage = UsageRepository(conn)
    default_max = settings.storage_max_upload_bytes if per_upload_limit else None
    quota, max_upload, reserved = await usage.reserve(
        tenant_id, size, settings.storage_default_quota_bytes, default_max
    )
    if reserved:
        return
    if per_upload_limit and size > max_upload:
        raise UploadTooLarge(f"Uploads are limited to {max_upload} bytes")
    raise QuotaFull(size, await usage.used(tenant_id), quota)


async def refuse(pool: asyncpg.Pool, identity: Identity, full: QuotaFull) -> NoReturn:
    """Record the refusal as an event (its own transaction: the request's was rolled back), then answer 403."""
    assert identity.tenant_id is not None
    async with pool.acquire() as conn, conn.transaction():
        await events.quota_exceeded(
            conn,
            tenant_id=identity.tenant_id,
            user_id=identity.user_id,
            requested=full.requested,
            used=full.used,
            quota=full.quota,
        )
    raise QuotaExceeded(
        f"{full.requested} bytes do not fit: {full.used} of {full.quota} bytes are used or reserved"
    ) from full
