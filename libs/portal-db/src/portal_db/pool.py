"""The asyncpg pool every service uses: bounded timeouts, JSON codecs, metrics, a readiness check."""

from __future__ import annotations

from typing import Any, TypeAlias, Union

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from portal_db.metrics import timed, watch_pool

# What `pool.acquire()` yields and what `asyncpg.connect()` returns: code taking a connection accepts both.
Connection: TypeAlias = Union["asyncpg.Connection[asyncpg.Record]", "PoolConnectionProxy[asyncpg.Record]"]

_json_encoder = msgspec.json.Encoder()


def _encode_json(value: Any) -> str:
    return _json_encoder.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json/jsonb columns read as Python values and accept them as parameters (msgspec is the fast path).
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=_encode_json, decoder=msgspec.json.decode, format="text"
        )


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "default",
    application_name: str | None = None,
    connect_timeout: float = 10.0,
    command_timeout: float = 30.0,
    statement_cache_size: int = 256,
    max_inactive_connection_lifetime: float = 300.0,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """Open an asyncpg pool with bounded timeouts and json/jsonb codecs, reported in db.pool.* gauges.

    Set `statement_cache_size=0` behind a transaction-mode pooler (PgBouncer), which breaks prepared statements.
    """
    settings = {"application_name": application_name or name, **(server_settings or {})}
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        command_timeout=command_timeout,
        statement_cache_size=statement_cache_size,
        max_inactive_connection_lifetime=max_inactive_connection_lifetime,
        server_settings=settings,
        init=_init_connection,
    )
    watch_pool(pool, name)
    return pool


async def check_ready(pool: asyncpg.Pool, *, within: float = 2.0) -> bool:
    """True when a pooled connection answers `SELECT 1` within `within` seconds (for /readyz)."""
    try:
        with timed("readiness"):
            async with pool.acquire(timeout=within) as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=within) == 1)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
