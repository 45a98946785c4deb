"""All SQL on linked accounts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
from portal_db import Connection

from identity.oauth.errors import AlreadyLinked
from identity.settings import SCHEMA


class LinkedAccountRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    user_id: UUID
    provider: str
    subject: str
    email: str | None
    display_name: str | None
    created_at: datetime
    last_used_at: datetime | None


_COLUMNS = "id, user_id, provider, subject, email, display_name, created_at, last_used_at"


def _row(record: asyncpg.Record | None) -> LinkedAccountRow | None:
    return None if record is None else LinkedAccountRow(**dict(record))


class LinkedAccountRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def by_subject(self, provider: str, subject: str) -> LinkedAccountRow | None:
        record = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.linked_accounts WHERE provider = $1 AND subject = $2", provider, subject
        )
        return _row(record)

    async def insert(
        self, link_id: UUID, user_id: UUID, provider: str, subject: str, email: str | None, display_name: str | None
    ) -> LinkedAccountRow:
        try:
            record = await self._conn.fetchrow(
                f"INSERT INTO {SCHEMA}.linked_accounts"
                " (id, user_id, provider, subject, email, display_name, last_used_at)"
                f" VALUES ($1, $2, $3, $4, $5, $6, now()) RETURNING {_COLUMNS}",
                link_id,
                user_id,
                provider,
                subject,
                email,
                display_name,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyLinked(
                "This provider account is linked to an account already, or this account has one from this provider"
            ) from None
        row = _row(record)
        assert row is not None
        return row

    async def touch(self, link_id: UUID) -> None:
        await self._conn.execute(f"UPDATE {SCHEMA}.linked_accounts SET last_used_at = now() WHERE id = $1", link_id)

    async def page_for_user(self, user_id: UUID, after: UUID | None, limit: int) -> list[LinkedAccountRow]:
        records = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.linked_accounts WHERE user_id = $1 AND ($2::uuid IS NULL OR id > $2)"
            " ORDER BY id LIMIT $3",
            user_id,
            after,
            limit,
        )
        return [LinkedAccountRow(**dict(r)) for r in records]

    async def lock_for_user(self, user_id: UUID) -> list[LinkedAccountRow]:
        """Every link of the user, locked until the transaction ends (two unlinks cannot both pass the check)."""
        records = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.linked_accounts WHERE user_id = $1 ORDER BY id FOR UPDATE", user_id
        )
        return [LinkedAccountRow(**dict(r)) for r in records]

    async def delete(self, link_id: UUID) -> None:
        await self._conn.execute(f"DELETE FROM {SCHEMA}.linked_accounts WHERE id = $1", link_id)
