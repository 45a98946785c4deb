"""Rules of the query side: who may read, how rows become API records, how filters are checked."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from portal_core.assertion import Identity
from portal_core.http import require_user

from audit.records.errors import InvalidFilter, NotTenantAdmin
from audit.records.schemas import RecordFilter, RecordRead

ADMIN_ROLES = frozenset({"owner", "admin"})


def require_tenant_admin(identity: Identity) -> str:
    """The caller's tenant, if the caller is signed in as one of its owners or admins."""
    require_user(identity)
    if not ADMIN_ROLES.intersection(identity.roles):
        raise NotTenantAdmin()
    assert identity.tenant_id is not None
    return identity.tenant_id


def check_filter(filters: RecordFilter) -> RecordFilter:
    if filters.since is not None and filters.until is not None and filters.since >= filters.until:
        raise InvalidFilter("`since` must be before `until`")
    for name in ("since", "until"):
        moment = getattr(filters, name)
        if moment is not None and moment.tzinfo is None:
            raise InvalidFilter(f"`{name}` needs a time zone (RFC 3339, e.g. 2026-01-01T00:00:00Z)")
    return filters


def to_read(row: asyncpg.Record) -> RecordRead:
    body: Any = msgspec.json.decode(row["body"])
    return RecordRead(
        id=str(row["id"]),
        seq=row["seq"],
        action=row["action"],
        actor_id=row["actor_id"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        outcome=row["outcome"],
        client_ip=row["client_ip"],
        user_agent=row["user_agent"],
        trace_id=row["trace_id"],
        request_id=row["request_id"],
        source=row["source"],
        occurred_at=row["occurred_at"],
        received_at=row["received_at"],
        body=body,
        hash=bytes(row["hash"]).hex(),
    )
