"""Real PostgreSQL (a fresh database per session, built by `python -m audit migrate`) and real NATS."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from audit.app import build_app
from audit.settings import AuditSettings
from litestar.testing import AsyncTestClient
from nats.aio.client import Client
from nats.js import JetStreamContext
from portal_core.test_infra import nats_url
from portal_core.testing import install_test_telemetry
from portal_db import create_pool
from portal_db.testing import temporary_database

sys.path.insert(0, str(Path(__file__).parent))
from audit_support import run_audit

install_test_telemetry()


async def migrated_database() -> AsyncIterator[str]:
    async with temporary_database(prefix="audit_test") as url:
        result = run_audit(["migrate"], {"DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        yield url


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async for url in migrated_database():
        yield url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    db_pool = await create_pool(database_url, min_size=1, max_size=6, name="audit-test")
    yield db_pool
    await db_pool.close()


@pytest.fixture(scope="session")
def settings(database_url: str) -> AuditSettings:
    return AuditSettings(environment="test", database_url=database_url, nats_url=nats_url())


@pytest.fixture(scope="session")
async def client(settings: AuditSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=build_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def nc() -> AsyncIterator[Client]:
    client = await nats.connect(nats_url(), name="audit-tests")
    yield client
    await client.drain()


@pytest.fixture(scope="session")
def js(nc: Client) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"
