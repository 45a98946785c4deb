"""Test support: a throw-away database on a real server, so parallel test runs never share state."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

LOCAL_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def temporary_database(admin_dsn: str = LOCAL_ADMIN_DSN, *, prefix: str = "portal_test") -> AsyncIterator[str]:
    """Create a uniquely named database, yield its DSN, drop it (even with open connections) at exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base, _, _ = admin_dsn.rpartition("/")
            yield f"{base}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
