"""Forward-only SQL migrations per schema: numbered files, checksummed, applied under an advisory lock.

A migration is a file `NNNN_name.sql` in the directory the service passes. Each one runs in its own
transaction with `search_path` set to the schema, so it must not contain BEGIN/COMMIT or statements
that refuse a transaction block (e.g. `CREATE INDEX CONCURRENTLY`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
from portal_core.logging import get_logger

from portal_db.metrics import timed

_FILE_NAME = re.compile(r"^(?P<version>\d{4,})_(?P<name>[a-z0-9_]+)\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_TABLE = "schema_migrations"
_log = get_logger(__name__)


class MigrationError(RuntimeError):
    """The migrations on disk and those recorded in the database do not agree; nothing was applied."""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, name, SQL text and the sha256 of that text."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrationSet:
    """Migrations shipped by a library (e.g. portal_events' outbox/inbox), tracked in a table of their own."""

    directory: Path
    table: str


@dataclass(frozen=True)
class AppliedMigration:
    """A row of `<schema>.schema_migrations`."""

    version: int
    name: str
    checksum: str
    applied_at: datetime


def validate_identifier(value: str, what: str = "schema") -> str:
    """Return `value` if it is a plain lower-case SQL identifier, else raise ValueError."""
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} {value!r} must match {_IDENTIFIER.pattern}")
    return value


def load_migrations(directory: Path) -> list[Migration]:
    """Read and order the `NNNN_name.sql` files of `directory`; raise MigrationError on a bad or duplicate name."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake_name.sql")
        raw = path.read_bytes()
        migration = Migration(
            version=int(match["version"]),
            name=match["name"],
            sql=raw.decode(),
            checksum=hashlib.sha256(raw).hexdigest(),
        )
        if migration.version in found:
            raise MigrationError(f"{path.name}: version {migration.version} is also {found[migration.version].label}")
        found[migration.version] = migration
    return [found[v] for v in sorted(found)]


def plan(available: Sequence[Migration], applied: Sequence[AppliedMigration]) -> list[Migration]:
    """The migrations still to apply, after checking the applied ones against the files (MigrationError if not)."""
    by_version = {m.version: m for m in available}
    for row in applied:
        migration = by_version.get(row.version)
        if migration is None:
            raise MigrationError(f"migration {row.version:04d}_{row.name} was applied but its file is missing")
        if migration.checksum != row.checksum:
            raise MigrationError(
                f"migration {migration.label} changed after it was applied (checksum mismatch: "
                f"database {row.checksum[:12]}, file {migration.checksum[:12]}); add a new migration instead"
            )
    done = {row.version for row in applied}
    pending = [m for m in available if m.version not in done]
    newest = max(done, default=0)
    late = [m.label for m in pending if m.version < newest]
    if late:
        raise MigrationError(
            f"migrations {', '.join(late)} are older than the applied version {newest:04d}; renumber them after it"
        )
    return pending


async def migrate(
    conn: asyncpg.Connection, *, schema: str, directory: Path, table: str = DEFAULT_TABLE
) -> list[Migration]:
    """Apply the pending migrations of `directory` to `schema` and return them, in order.

    Serialised across processes by an advisory lock keyed on the schema; each migration commits on its own.
    """
    validate_identifier(schema)
    validate_identifier(table, "table")
    available = load_migrations(directory)
    lock_key = f"portal_db.migrations:{schema}"
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_key)
    try:
        await _ensure_tracking_table(conn, schema, table)
        applied = await _applied(conn, schema, table)
        pending = plan(available, applied)
        for migration in pending:
            await _apply(conn, schema, table, migration)
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key)


async def migrate_url(
    database_url: str, *, schema: str, directory: Path, table: str = DEFAULT_TABLE
) -> list[Migration]:
    """`migrate` on a connection of its own to `database_url` (for CLIs and start-up hooks)."""
    conn = await asyncpg.connect(database_url, server_settings={"application_name": f"portal-migrate:{schema}"})
    try:
        return await migrate(conn, schema=schema, directory=directory, table=table)
    finally:
        await conn.close()


async def _ensure_tracking_table(conn: asyncpg.Connection, schema: str, table: str) -> None:
    # A service role owns its bootstrapped schema but may not create schemas in the database, and
    # CREATE SCHEMA IF NOT EXISTS checks that privilege before it looks: only ask when it is missing.
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema):
        await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {schema}.{table} (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


async def _applied(conn: asyncpg.Connection, schema: str, table: str) -> list[AppliedMigration]:
    rows = await conn.fetch(f"SELECT version, name, checksum, applied_at FROM {schema}.{table} ORDER BY version")
    return [AppliedMigration(**dict(row)) for row in rows]


async def _apply(conn: asyncpg.Connection, schema: str, table: str, migration: Migration) -> None:
    with timed("migration"):
        async with conn.transaction():
            await conn.execute("SELECT set_config('search_path', $1, true)", schema)
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {schema}.{table} (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    _log.info("migration applied", schema=schema, migration=migration.label)
