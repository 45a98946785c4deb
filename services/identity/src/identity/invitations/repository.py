"""All SQL on invitations (single use, expiring; only the token's SHA-256 is stored)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from portal_db import Connection

from identity.memberships.repository import Role
from identity.settings import SCHEMA


class InvitationRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    tenant_id: UUID
    email: str
    role: Role
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


_COLUMNS = "id, tenant_id, email, role, expires_at, accepted_at, revoked_at, created_at"


class InvitationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(
        self,
        invitation_id: UUID,
        tenant_id: UUID,
        email: str,
        role: Role,
        token_hash: bytes,
        invited_by: UUID,
        idempotency_key: str | None,
        ttl_seconds: int,
    ) -> tuple[InvitationRow, bool]:
        """(the invitation, created?) An Idempotency-Key already used by this inviter returns its invitation
        with the token replaced (only the newest token works; the first answer may have been lost)."""
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO {SCHEMA}.invitations
                (id, tenant_id, email, role, token_hash, invited_by, idempotency_key, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
            ON CONFLICT (tenant_id, invited_by, idempotency_key) WHERE idempotency_key IS NOT NULL
            DO UPDATE SET token_hash = EXCLUDED.token_hash
            RETURNING {_COLUMNS}, (xmax = 0) AS created
            """,
            invitation_id,
            tenant_id,
            email,
            role,
            token_hash,
            invited_by,
            idempotency_key,
            float(ttl_seconds),
        )
        assert row is not None
        data = dict(row)
        created = bool(data.pop("created"))
        return InvitationRow(**data), created

    async def usable_by_token(self, token_hash: bytes) -> InvitationRow | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.invitations WHERE token_hash = $1 "
            "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()",
            token_hash,
        )
        return None if row is None else InvitationRow(**dict(row))

    async def mark_accepted(self, invitation_id: UUID, user_id: UUID) -> bool:
        """Single use: False when someone else accepted (or it was revoked or expired) meanwhile."""
        done = await self._conn.execute(
            f"UPDATE {SCHEMA}.invitations SET accepted_at = now(), accepted_by = $2 "
            "WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()",
            invitation_id,
            user_id,
        )
        return done == "UPDATE 1"

    async def pending_page(self, tenant_id: UUID, after: UUID | None, limit: int) -> list[InvitationRow]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.invitations WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) "
            "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() ORDER BY id LIMIT $3",
            tenant_id,
            after,
            limit,
        )
        return [InvitationRow(**dict(r)) for r in rows]

    async def revoke(self, tenant_id: UUID, invitation_id: UUID) -> bool:
        done = await self._conn.execute(
            f"UPDATE {SCHEMA}.invitations SET revoked_at = now() "
            "WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
            tenant_id,
            invitation_id,
        )
        return done == "UPDATE 1"
