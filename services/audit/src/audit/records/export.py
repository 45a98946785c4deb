"""Streaming NDJSON and CSV exports: rows flow from a server-side cursor to the socket, never all in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import asyncpg
import msgspec

from audit.records import repository
from audit.records.schemas import RecordFilter
from audit.records.service import to_read

CSV_COLUMNS = (
    "id",
    "seq",
    "occurred_at",
    "received_at",
    "action",
    "outcome",
    "actor_id",
    "target_type",
    "target_id",
    "client_ip",
    "user_agent",
    "trace_id",
    "request_id",
    "source",
    "hash",
    "body",
)
_CHUNK_ROWS = 500
_encoder = msgspec.json.Encoder()


def _csv_safe(value: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ would run when opened.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def export_rows(
    pool: asyncpg.Pool, tenant_id: str, filters: RecordFilter, limit: int, fmt: str
) -> AsyncIterator[bytes]:
    """Yield the export in chunks of a few hundred records, holding one connection and one cursor."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_COLUMNS)
    lines: list[bytes] = []
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in repository.stream(conn, tenant_id, filters, limit):
            if fmt == "ndjson":
                lines.append(_encoder.encode(to_read(row)) + b"\n")
            else:
                values = [row[c] if c != "hash" else bytes(row["hash"]).hex() for c in CSV_COLUMNS]
                writer.writerow([_csv_safe(str(v)) if v is not None else "" for v in values])
            if len(lines) >= _CHUNK_ROWS or buffer.tell() > 256 * 1024:
                yield _flush(lines, buffer)
    yield _flush(lines, buffer)


def _flush(lines: list[bytes], buffer: io.StringIO) -> bytes:
    chunk = b"".join(lines) + buffer.getvalue().encode()
    lines.clear()
    buffer.seek(0)
    buffer.truncate()
    return chunk
