"""SQL for deletion intents and the housekeeping sweeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from portal_db import Connection

from storage.objects.repository import ObjectRow


@dataclass(frozen=True)
class Deletion:
    s3_key: str
    multipart_upload_id: str | None
    hold_until: datetime

    @classmethod
    def of(cls, record: asyncpg.Record) -> Deletion:
        return cls(record["s3_key"], record["multipart_upload_id"], record["hold_until"])


class DeletionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, rows: Sequence[ObjectRow], reason: str, hold_until: datetime | None = None) -> None:
        """Record the intent to delete these objects' bytes (the caller removes or fails the rows)."""
        await self._conn.executemany(
            """
            INSERT INTO storage.deletions (s3_key, tenant_id, object_id, multipart_upload_id, reason, hold_until)
            VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))
            ON CONFLICT (s3_key) DO UPDATE SET hold_until = greatest(deletions.hold_until, excluded.hold_until)
            """,
            [(r.s3_key, r.tenant_id, r.id, r.multipart_upload_id, reason, hold_until) for r in rows],
        )

    async def by_keys(self, keys: Sequence[str]) -> list[Deletion]:
        records = await self._conn.fetch(
            "SELECT s3_key, multipart_upload_id, hold_until FROM storage.deletions WHERE s3_key = ANY($1::text[])", keys
        )
        return [Deletion.of(r) for r in records]

    async def due(self, older_than: datetime, limit: int) -> list[Deletion]:
        records = await self._conn.fetch(
            """
            SELECT s3_key, multipart_upload_id, hold_until FROM storage.deletions
            WHERE created_at <= $1 ORDER BY created_at LIMIT $2
            """,
            older_than,
            limit,
        )
        return [Deletion.of(r) for r in records]

    async def finish(self, keys: Sequence[str]) -> None:
        """Forget the intents whose bytes are gone and whose hold has passed."""
        await self._conn.execute(
            "DELETE FROM storage.deletions WHERE s3_key = ANY($1::text[]) AND hold_until <= now()", keys
        )

    async def count_attempt(self, keys: Sequence[str]) -> None:
        await self._conn.execute(
            "UPDATE storage.deletions SET attempts = attempts + 1 WHERE s3_key = ANY($1::text[])", keys
        )


class SweepRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def expired_pending(self, limit: int) -> list[ObjectRow]:
        records = await self._conn.fetch(
            """
            SELECT * FROM storage.objects WHERE status = 'pending' AND expires_at < now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
            """,
            limit,
        )
        return [ObjectRow.of(r) for r in records]

    async def prune_failed(self, older_than: datetime) -> int:
        result = await self._conn.execute(
            "DELETE FROM storage.objects WHERE status = 'failed' AND updated_at < $1", older_than
        )
        return int(result.split()[-1])

    async def prune_idempotency_keys(self, older_than: datetime) -> None:
        await self._conn.execute("DELETE FROM storage.idempotency_keys WHERE created_at < $1", older_than)

    async def known_upload_ids(self, upload_ids: Sequence[str]) -> set[str]:
        records = await self._conn.fetch(
            """
            SELECT multipart_upload_id AS id FROM storage.objects WHERE multipart_upload_id = ANY($1::text[])
            UNION SELECT multipart_upload_id FROM storage.deletions WHERE multipart_upload_id = ANY($1::text[])
            """,
            upload_ids,
        )
        return {r["id"] for r in records}

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        records = await self._conn.fetch(
            """
            SELECT s3_key FROM storage.objects WHERE s3_key = ANY($1::text[])
            UNION SELECT s3_key FROM storage.deletions WHERE s3_key = ANY($1::text[])
            """,
            keys,
        )
        return {r["s3_key"] for r in records}

    async def claim_task(self, task: str, every_seconds: float) -> bool:
        """True (and the run recorded) when `task` last ran at least `every_seconds` ago, or never."""
        claimed = await self._conn.fetchval(
            """
            INSERT INTO storage.housekeeping_runs AS runs (task, last_run) VALUES ($1, now())
            ON CONFLICT (task) DO UPDATE SET last_run = now()
            WHERE runs.last_run <= now() - make_interval(secs => $2)
            RETURNING task
            """,
            task,
            every_seconds,
        )
        return claimed is not None
