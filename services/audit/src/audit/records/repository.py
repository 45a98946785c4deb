"""All SQL of the query side: filtered keyset pages, one record, a server-side cursor for exports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from portal_db import Connection

from audit.records.schemas import RecordFilter
from audit.settings import SCHEMA

_COLUMNS = (
    "id, seq, action, actor_id, target_type, target_id, outcome, client_ip, user_agent, trace_id, request_id, "
    "source, occurred_at, received_at, body, hash"
)


def _where(tenant_id: str, filters: RecordFilter, before_seq: int | None) -> tuple[str, list[Any]]:
    clauses, args = ["tenant_id = $1"], [tenant_id]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.format(f"${len(args)}"))

    for column in ("actor_id", "action", "target_type", "target_id", "outcome", "trace_id"):
        value = getattr(filters, column)
        if value is not None:
            add(f"{column} = {{}}", value)
    if filters.since is not None:
        add("occurred_at >= {}", filters.since)
    if filters.until is not None:
        add("occurred_at < {}", filters.until)
    if before_seq is not None:
        add("seq < {}", before_seq)
    return " AND ".join(clauses), args


async def page(
    conn: Connection, tenant_id: str, filters: RecordFilter, before_seq: int | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` records newest first (highest seq), older than `before_seq` when given."""
    where, args = _where(tenant_id, filters, before_seq)
    args.append(limit)
    query = f"SELECT {_COLUMNS} FROM {SCHEMA}.records WHERE {where} ORDER BY seq DESC LIMIT ${len(args)}"
    return await conn.fetch(query, *args)


async def one(conn: Connection, tenant_id: str, record_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM {SCHEMA}.records WHERE id = $1 AND tenant_id = $2", record_id, tenant_id
    )


async def stream(conn: Connection, tenant_id: str, filters: RecordFilter, limit: int) -> AsyncIterator[asyncpg.Record]:
    """Every matching record newest first through a server-side cursor (the caller holds a transaction)."""
    where, args = _where(tenant_id, filters, None)
    args.append(limit)
    query = f"SELECT {_COLUMNS} FROM {SCHEMA}.records WHERE {where} ORDER BY seq DESC LIMIT ${len(args)}"
    async for row in conn.cursor(query, *args, prefetch=1000):
        yield row
