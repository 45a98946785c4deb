"""All SQL of the chain: locking heads, appending records, checkpoints and anchors, reading a chain in order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
from portal_db import Connection

from audit.chain.hashing import GENESIS
from audit.chain.signing import SignedHead
from audit.settings import SCHEMA

RECORD_COLUMNS = (
    "tenant_id",
    "seq",
    "id",
    "action",
    "actor_id",
    "target_type",
    "target_id",
    "outcome",
    "client_ip",
    "user_agent",
    "trace_id",
    "request_id",
    "source",
    "occurred_at",
    "received_at",
    "body",
    "prev_hash",
    "hash",
)


async def lock_heads(conn: Connection, tenants: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """Create missing heads and lock them all, in tenant order (two writers never wait on each other in a cycle)."""
    ordered = sorted(set(tenants))
    await conn.execute(
        f"INSERT INTO {SCHEMA}.chain_heads (tenant_id, seq, hash) SELECT t, 0, $2 FROM unnest($1::text[]) AS t "
        "ORDER BY t ON CONFLICT DO NOTHING",
        ordered,
        GENESIS,
    )
    rows = await conn.fetch(
        f"SELECT tenant_id, seq, hash FROM {SCHEMA}.chain_heads WHERE tenant_id = ANY($1::text[]) "
        "ORDER BY tenant_id FOR UPDATE",
        ordered,
    )
    return {row["tenant_id"]: (row["seq"], bytes(row["hash"])) for row in rows}


async def recorded_ids(conn: Connection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are recorded already (an event copied into a second stream reaches audit twice)."""
    rows = await conn.fetch(f"SELECT id FROM {SCHEMA}.records WHERE id = ANY($1::uuid[])", ids)
    return {row["id"] for row in rows}


async def append_records(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY rows (in RECORD_COLUMNS order) into the records table: the fastest bulk path PostgreSQL has."""
    await conn.copy_records_to_table("records", schema_name=SCHEMA, columns=RECORD_COLUMNS, records=rows)


async def move_heads(conn: Connection, heads: dict[str, tuple[int, bytes]]) -> None:
    tenants = list(heads)
    await conn.execute(
        f"UPDATE {SCHEMA}.chain_heads AS h SET seq = n.seq, hash = n.hash "
        "FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS n(tenant_id, seq, hash) WHERE h.tenant_id = n.tenant_id",
        tenants,
        [heads[t][0] for t in tenants],
        [heads[t][1] for t in tenants],
    )


async def insert_signed(conn: Connection, table: str, heads: Sequence[SignedHead]) -> None:
    """Insert checkpoints or anchors (`table` is one of the two)."""
    assert table in ("checkpoints", "chain_anchors")
    await conn.executemany(
        f"INSERT INTO {SCHEMA}.{table} (tenant_id, seq, hash, signed_at, key_id, signature) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [(h.tenant_id, h.seq, h.hash, h.signed_at, h.key_id, h.signature) for h in heads],
    )


def _signed(row: asyncpg.Record) -> SignedHead:
    return SignedHead(
        row["tenant_id"], row["seq"], bytes(row["hash"]), row["signed_at"], row["key_id"], bytes(row["signature"])
    )


async def latest_signed(conn: Connection, table: str, tenant_id: str) -> list[SignedHead]:
    """The tenant's signed heads in `table`, newest first (the caller takes the first valid one)."""
    assert table in ("checkpoints", "chain_anchors")
    rows = await conn.fetch(
        f"SELECT tenant_id, seq, hash, signed_at, key_id, signature FROM {SCHEMA}.{table} "
        "WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 100",
        tenant_id,
    )
    return [_signed(row) for row in rows]


async def tenants(conn: Connection) -> list[str]:
    rows = await conn.fetch(f"SELECT tenant_id FROM {SCHEMA}.chain_heads ORDER BY tenant_id")
    return [row["tenant_id"] for row in rows]


async def chain_rows(conn: Connection, tenant_id: str, after_seq: int) -> AsyncIterator[asyncpg.Record]:
    """The tenant's records from `after_seq` on, in seq order, through a server-side cursor (call in a transaction)."""
    query = f"SELECT {', '.join(RECORD_COLUMNS)} FROM {SCHEMA}.records WHERE tenant_id = $1 AND seq > $2 ORDER BY seq"
    async for row in conn.cursor(query, tenant_id, after_seq, prefetch=2000):
        yield row


async def seq_with_hash(conn: Connection, tenant_id: str, record_hash: bytes) -> int | None:
    value = await conn.fetchval(
        f"SELECT seq FROM {SCHEMA}.records WHERE tenant_id = $1 AND hash = $2 LIMIT 1", tenant_id, record_hash
    )
    return None if value is None else int(value)


async def prune_checkpoints(conn: Connection, tenant_id: str, up_to_seq: int) -> None:
    await conn.execute(f"DELETE FROM {SCHEMA}.checkpoints WHERE tenant_id = $1 AND seq < $2", tenant_id, up_to_seq)
