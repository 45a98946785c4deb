"""The outbox and inbox tables, shipped as a migration set that services apply with portal_db."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from portal_db import MigrationSet, migrate

EVENT_MIGRATIONS = MigrationSet(directory=Path(__file__).parent / "migrations", table="event_migrations")


async def migrate_event_tables(conn: asyncpg.Connection, schema: str) -> None:
    """Create or upgrade `<schema>.event_outbox` and `<schema>.event_inbox` (tracked in `<schema>.event_migrations`)."""
    await migrate(conn, schema=schema, directory=EVENT_MIGRATIONS.directory, table=EVENT_MIGRATIONS.table)
