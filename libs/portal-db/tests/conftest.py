"""A fresh database per test session on the local server, dropped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from portal_db.testing import LOCAL_ADMIN_DSN, temporary_database

ADMIN_DSN = os.environ.get("PORTAL_TEST_ADMIN_DSN", LOCAL_ADMIN_DSN)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database(ADMIN_DSN, prefix="portal_db_test") as url:
        yield url


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def schema() -> str:
    """A schema of its own for each test."""
    return f"t_{uuid.uuid4().hex[:10]}"
