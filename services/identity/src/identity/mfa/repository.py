"""All SQL on TOTP factors and recovery codes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from portal_core.ids import new_id
from portal_db import Connection

from identity.settings import SCHEMA


class TotpFactorRow(msgspec.Struct, frozen=True, kw_only=True):
    user_id: UUID
    secret_ciphertext: str
    confirmed_at: datetime | None


class MfaRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def factor(self, user_id: UUID, *, for_update: bool = False) -> TotpFactorRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT user_id, secret_ciphertext, confirmed_at FROM {SCHEMA}.totp_factors WHERE user_id = $1{lock}",
            user_id,
        )
        return None if row is None else TotpFactorRow(**dict(row))

    async def is_enabled(self, user_id: UUID) -> bool:
        return bool(
            await self._conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
                user_id,
            )
        )

    async def start_enrolment(self, user_id: UUID, secret_ciphertext: str) -> None:
        """A new unconfirmed factor (replacing an unconfirmed one); the caller checked none is confirmed."""
        await self._conn.execute(
            f"INSERT INTO {SCHEMA}.totp_factors (user_id, secret_ciphertext) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET secret_ciphertext = EXCLUDED.secret_ciphertext, "
            "confirmed_at = NULL, created_at = now()",
            user_id,
            secret_ciphertext,
        )

    async def confirm(self, user_id: UUID) -> None:
        await self._conn.execute(f"UPDATE {SCHEMA}.totp_factors SET confirmed_at = now() WHERE user_id = $1", user_id)

    async def set_ciphertext(self, user_id: UUID, secret_ciphertext: str) -> None:
        await self._conn.execute(
            f"UPDATE {SCHEMA}.totp_factors SET secret_ciphertext = $2 WHERE user_id = $1", user_id, secret_ciphertext
        )

    async def delete_factor(self, user_id: UUID) -> None:
        await self._conn.execute(f"DELETE FROM {SCHEMA}.totp_factors WHERE user_id = $1", user_id)
        await self._conn.execute(f"DELETE FROM {SCHEMA}.recovery_codes WHERE user_id = $1", user_id)

    async def replace_recovery_codes(self, user_id: UUID, code_hashes: list[bytes]) -> None:
        await self._conn.execute(f"DELETE FROM {SCHEMA}.recovery_codes WHERE user_id = $1", user_id)
        await self._conn.executemany(
            f"INSERT INTO {SCHEMA}.recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)",
            [(new_id(), user_id, h) for h in code_hashes],
        )

    async def use_recovery_code(self, user_id: UUID, code_hash: bytes) -> bool:
        """Mark the matching unused code used; False when none matches (single use, race-safe)."""
        done = await self._conn.execute(
            f"UPDATE {SCHEMA}.recovery_codes SET used_at = now() "
            "WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user_id,
            code_hash,
        )
        return done == "UPDATE 1"

    async def recovery_codes_left(self, user_id: UUID) -> int:
        count: int = await self._conn.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.recovery_codes WHERE user_id = $1 AND used_at IS NULL", user_id
        )
        return count
