"""Identity and the gateway on loopback (uvicorn in threads), real PostgreSQL, Redis and NATS."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from identity.app import MIGRATIONS, build_app
from identity.settings import SCHEMA, IdentitySettings
from portal_core.settings import load_settings
from portal_core.test_infra import nats_url, redis_address, redis_env
from portal_db import migrate_url
from portal_db.testing import temporary_database
from portal_events import EVENT_MIGRATIONS

sys.path.insert(0, str(Path(__file__).parent))
from identity_support import GATEWAY_PREFIX, IDENTITY_PREFIX, EventTap, Stack, identity_env
from portal_core.testing import ThreadServer


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    manager = temporary_database(prefix="identity_test")
    url = loop.run_until_complete(manager.__aenter__())
    try:
        for migration_set in (EVENT_MIGRATIONS,):
            loop.run_until_complete(
                migrate_url(url, schema=SCHEMA, directory=migration_set.directory, table=migration_set.table)
            )
        loop.run_until_complete(migrate_url(url, schema=SCHEMA, directory=MIGRATIONS))
        yield url
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


@pytest.fixture(scope="session")
def stack(database_url: str) -> Iterator[Stack]:
    settings = load_settings(IdentitySettings, identity_env(database_url))
    with EventTap(nats_url()) as tap, ThreadServer(build_app(settings)) as identity:
        gateway_settings = load_settings(
            GatewaySettings,
            {
                "ENVIRONMENT": "test",
                "UPSTREAM_IDENTITY_URL": identity.url,
                "REDIS_KEY_PREFIX": GATEWAY_PREFIX,
                "RATE_LIMIT_REQUESTS": "1000000",
                "TRUSTED_PROXIES": "127.0.0.1",
                "CORS_ORIGINS": "https://app.example",
                "SESSION_CACHE_SECONDS": "2",
                **redis_env(),
            },
        )
        with ThreadServer(create_gateway(gateway_settings)) as gateway:
            yield Stack(gateway.url, identity.url, database_url, settings, gateway_settings, tap)


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_keys() -> Iterator[None]:
    yield
    host, port = redis_address()
    client = redis.Redis(host=host, port=port)
    for prefix in (IDENTITY_PREFIX, GATEWAY_PREFIX):
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    client.close()
