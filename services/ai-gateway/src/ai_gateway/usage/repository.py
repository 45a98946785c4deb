"""All SQL of the usage ledger."""

from __future__ import annotations

import uuid

from portal_db import Connection

from ai_gateway.settings import SCHEMA
from ai_gateway.usage.schemas import UsageRead, UsageRecord

_FIELDS = (
    "id",
    "tenant_id",
    "user_id",
    "endpoint",
    "stream",
    "model_requested",
    "model_used",
    "provider",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micros",
    "latency_ms",
    "first_token_ms",
    "outcome",
    "error_code",
    "trace_id",
    "prompt",
    "output",
)
_COLUMNS = (
    "id, tenant_id, user_id, endpoint, stream, model_requested, model_used, provider, input_tokens, output_tokens, "
    "cached_tokens, cost_micros, latency_ms, first_token_ms, outcome, error_code, trace_id, prompt, output"
)


class UsageRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_new(self, records: list[UsageRecord]) -> set[str]:
        """Insert a batch of rows in one statement; the ids that were new (the others were recorded before)."""
        columns = [[getattr(r, name) for r in records] for name in _FIELDS]
        columns[0] = [uuid.UUID(i) for i in columns[0]]
        rows = await self._conn.fetch(
            f"""
            INSERT INTO {SCHEMA}.usage ({_COLUMNS})
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[],
                                 $8::text[], $9::int[], $10::int[], $11::int[], $12::bigint[], $13::int[], $14::int[],
                                 $15::text[], $16::text[], $17::text[], $18::jsonb[], $19::jsonb[])
            ON CONFLICT (id) DO NOTHING RETURNING id
            """,
            *columns,
        )
        return {str(row["id"]) for row in rows}

    async def page(self, tenant_id: str, limit: int, after: uuid.UUID | None) -> list[UsageRead]:
        rows = await self._conn.fetch(
            f"""
            SELECT id, user_id, endpoint, stream, model_requested, model_used, input_tokens, output_tokens,
                   cached_tokens, cost_micros, latency_ms, first_token_ms, outcome, error_code, trace_id, created_at
            FROM {SCHEMA}.usage
            WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2)
            ORDER BY id DESC LIMIT $3
            """,
            tenant_id,
            after,
            limit,
        )
        return [
            UsageRead(
                id=str(r["id"]),
                user_id=r["user_id"],
                endpoint=r["endpoint"],
                stream=r["stream"],
                model_requested=r["model_requested"],
                model_used=r["model_used"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                cached_tokens=r["cached_tokens"],
                cost_usd=r["cost_micros"] / 1_000_000,
                latency_ms=r["latency_ms"],
                first_token_ms=r["first_token_ms"],
                outcome=r["outcome"],
                error_code=r["error_code"],
                trace_id=r["trace_id"],
                created_at=r["created_at"],
            )
            for r in rows
        ]
