"""Shared Postgres access: asyncpg pool, checksummed forward-only migrations per schema, dev bootstrap."""

from portal_db.bootstrap import bootstrap_service_db
from portal_db.metrics import timed
from portal_db.migrations import Migration, MigrationError, MigrationSet, load_migrations, migrate, migrate_url
from portal_db.pool import Connection, check_ready, create_pool

__all__ = [
    "Connection",
    "Migration",
    "MigrationError",
    "MigrationSet",
    "bootstrap_service_db",
    "check_ready",
    "create_pool",
    "load_migrations",
    "migrate",
    "migrate_url",
    "timed",
]
