"""All SQL of retention: per-tenant periods, the last expired seq, chunked deletes."""

from __future__ import annotations

from datetime import datetime

from portal_db import Connection

from audit.settings import SCHEMA


async def retention_days(conn: Connection, tenant_id: str) -> int | None:
    value = await conn.fetchval(
        f"SELECT retention_days FROM {SCHEMA}.retention_policies WHERE tenant_id = $1", tenant_id
    )
    return None if value is None else int(value)


async def set_retention_days(conn: Connection, tenant_id: str, days: int) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.retention_policies (tenant_id, retention_days) VALUES ($1, $2) "
        "ON CONFLICT (tenant_id) DO UPDATE SET retention_days = EXCLUDED.retention_days, updated_at = now()",
        tenant_id,
        days,
    )


async def last_expired(conn: Connection, tenant_id: str, cutoff: datetime) -> tuple[int, bytes] | None:
    """(seq, hash) of the newest record such that it and every older one were received before `cutoff`."""
    row = await conn.fetchrow(
        f"""
        WITH first_kept AS (
            SELECT min(seq) AS seq FROM {SCHEMA}.records WHERE tenant_id = $1 AND received_at >= $2
        )
        SELECT r.seq, r.hash FROM {SCHEMA}.records r, first_kept
        WHERE r.tenant_id = $1 AND r.received_at < $2 AND (first_kept.seq IS NULL OR r.seq < first_kept.seq)
        ORDER BY r.seq DESC LIMIT 1
        """,
        tenant_id,
        cutoff,
    )
    return None if row is None else (int(row["seq"]), bytes(row["hash"]))


async def delete_up_to(conn: Connection, tenant_id: str, up_to_seq: int, chunk: int) -> int:
    """Delete the oldest `chunk` records with seq <= `up_to_seq`; return how many went."""
    status = await conn.execute(
        f"""
        DELETE FROM {SCHEMA}.records WHERE tenant_id = $1 AND seq IN (
            SELECT seq FROM {SCHEMA}.records WHERE tenant_id = $1 AND seq <= $2 ORDER BY seq LIMIT $3
        )
        """,
        tenant_id,
        up_to_seq,
        chunk,
    )
    return int(status.split()[-1])
