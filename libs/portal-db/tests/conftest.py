"""A fresh database per test session on the tests' server (portal_core.test_infra), dropped at the end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from portal_db.testing import temporary_database


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database(prefix="portal_db_test") as url:
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
