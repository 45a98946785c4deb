"""Real servers on loopback: the three providers' wire fakes, the AI gateway itself (uvicorn in a thread),
a throw-away PostgreSQL database, real Redis and NATS."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
import redis
from ai_gateway.app import MIGRATIONS, create
from ai_gateway.settings import AiSettings
from portal_core.settings import load_settings
from portal_core.test_infra import nats_url, redis_address, redis_env
from portal_core.testing import TestTelemetry, install_test_telemetry
from portal_db import migrate_url
from portal_db.testing import temporary_database
from portal_events import EVENT_MIGRATIONS

sys.path.insert(0, str(Path(__file__).parent))
from ai_support import Caller, new_caller
from ai_wire_fakes import AnthropicWire, GeminiWire, OpenAIWire, WireFake
from portal_core.testing import ThreadServer

TELEMETRY = install_test_telemetry()
KEY_PREFIX = f"test:ai:{uuid.uuid4().hex}:"

# Models the tests use: a primary that falls back to Anthropic, an alias to Gemini, prices for cost checks.
FALLBACKS = {"openai/gpt-primary": ["anthropic/claude-backup", "gemini/gemini-backup"]}
ALIASES = {"fast": "gemini/gemini-flash", "smart": "anthropic/claude-smart"}
PRICES = {"openai/gpt-priced": {"input": 2.0, "output": 10.0, "cached_input": 1.0}}


@dataclass
class Fakes:
    openai: OpenAIWire
    anthropic: AnthropicWire
    gemini: GeminiWire
    urls: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[WireFake]:
        return [self.openai, self.anthropic, self.gemini]

    def by_name(self, name: str) -> WireFake:
        return {"openai": self.openai, "anthropic": self.anthropic, "gemini": self.gemini}[name]


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    made = Fakes(OpenAIWire(), AnthropicWire(), GeminiWire())
    with ThreadServer(made.openai) as o, ThreadServer(made.anthropic) as a, ThreadServer(made.gemini) as g:
        made.urls = {"openai": f"{o.url}/v1", "anthropic": a.url, "gemini": f"{g.url}/"}
        yield made


@pytest.fixture(autouse=True)
def _reset_fakes(fakes: Fakes) -> None:
    for fake in fakes.all():
        fake.reset()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database(prefix="ai_gateway_test") as dsn:
        await migrate_url(dsn, schema="ai", directory=EVENT_MIGRATIONS.directory, table=EVENT_MIGRATIONS.table)
        await migrate_url(dsn, schema="ai", directory=MIGRATIONS)
        yield dsn


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


def service_env(fakes: Fakes, database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url(),
        **redis_env(),
        "REDIS_KEY_PREFIX": KEY_PREFIX,
        "OPENAI_API_KEY": "sk-test-openai",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "GEMINI_API_KEY": "gemini-test-key",
        "OPENAI_BASE_URL": fakes.urls["openai"],
        "ANTHROPIC_BASE_URL": fakes.urls["anthropic"],
        "GEMINI_BASE_URL": fakes.urls["gemini"],
        "MODEL_FALLBACKS": json.dumps(FALLBACKS),
        "MODEL_ALIASES": json.dumps(ALIASES),
        "MODEL_PRICES": json.dumps(PRICES),
        "PROVIDER_MODELS": json.dumps({"openai": ["gpt-primary"], "anthropic": ["claude-backup"]}),
        "RETRY_ATTEMPTS": "3",
        "RETRY_MAX_WAIT_SECONDS": "3",
        "RETRY_BACKOFF_INITIAL_SECONDS": "0.05",
        "RETRY_BACKOFF_MAX_SECONDS": "0.2",
        "PROVIDER_TIMEOUT_SECONDS": "10",
        "BREAKER_FAILURE_THRESHOLD": "1000",
        "USER_REQUESTS_PER_MINUTE": "1000",
        "TENANT_REQUESTS_PER_MINUTE": "1000",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def env_for(fakes: Fakes) -> Callable[..., dict[str, str]]:
    """`service_env` for another database: `env_for(database_url, LOCAL_STREAM_DELAY_SECONDS="0.1")`."""

    def make(database_url: str, **overrides: str) -> dict[str, str]:
        return service_env(fakes, database_url, **overrides)

    return make


@pytest.fixture(scope="session")
def telemetry() -> TestTelemetry:
    return TELEMETRY


@pytest.fixture(scope="session")
def make_service(fakes: Fakes, database_url: str) -> Callable[..., ThreadServer]:
    """Another AI gateway with some settings changed: `with make_service(USER_REQUESTS_PER_MINUTE="2") as s:`."""

    def make(**overrides: str) -> ThreadServer:
        return ThreadServer(create(load_settings(AiSettings, service_env(fakes, database_url, **overrides))))

    return make


@pytest.fixture(scope="session")
def service(make_service: Callable[..., ThreadServer]) -> Iterator[str]:
    """The AI gateway most tests use: all three providers on their wire fakes."""
    # Its keeper sweeps the shared database too: far from any test's calls, which tests sweep themselves (a
    # killed process's call must not be settled by this one while a slow machine starts the `sweep` command).
    with make_service(INTERRUPTED_AFTER_SECONDS="3600") as server:
        yield server.url


@pytest.fixture
def caller() -> Caller:
    """A signed-in user of a tenant of its own, so limits, budgets and ledgers never meet between tests."""
    return new_caller()


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_keys() -> Iterator[None]:
    yield
    host, port = redis_address()
    client = redis.Redis(host=host, port=port)
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
