"""All SQL on users."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
from portal_db import Connection

from identity.errors import EmailTaken
from identity.settings import SCHEMA


class UserRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    password_hash: str | None
    display_name: str | None
    created_at: datetime


_COLUMNS = "id, email, password_hash, display_name, created_at"


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def by_email(self, email: str) -> UserRow | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM {SCHEMA}.users WHERE email = $1", email)
        return None if row is None else UserRow(**dict(row))

    async def by_id(self, user_id: UUID) -> UserRow | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM {SCHEMA}.users WHERE id = $1", user_id)
        return None if row is None else UserRow(**dict(row))

    async def insert(self, user_id: UUID, email: str, password_hash: str | None, display_name: str | None) -> UserRow:
        try:
            row = await self._conn.fetchrow(
                f"INSERT INTO {SCHEMA}.users (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4) "
                f"RETURNING {_COLUMNS}",
                user_id,
                email,
                password_hash,
                display_name,
            )
        except asyncpg.UniqueViolationError:
            raise EmailTaken() from None
        assert row is not None
        return UserRow(**dict(row))

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self._conn.execute(
            f"UPDATE {SCHEMA}.users SET password_hash = $2, updated_at = now() WHERE id = $1", user_id, password_hash
        )
