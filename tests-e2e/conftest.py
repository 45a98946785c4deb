"""The platform started as processes on loopback: gateway, the notes fixture service, its consumer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import nats
import pytest
from nats.js.errors import NotFoundError
from portal_core.test_infra import nats_url
from portal_core.testing import free_port
from portal_db.testing import temporary_database
from portal_events.testing import PrivateNatsServer
from support.otlp_receiver import OtlpReceiver
from support.platform import GATEWAY_MAX_BODY, Platform
from support.processes import ROOT, running


async def _reset_stream() -> None:
    # The fixture's stream is shared by name on the local NATS: start each session from nothing.
    nc = await nats.connect(nats_url())
    try:
        await nc.jetstream().delete_stream("PORTAL_NOTES")
    except NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    manager = temporary_database(prefix="portal_e2e")
    url = loop.run_until_complete(manager.__aenter__())
    try:
        yield url
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


@pytest.fixture(scope="session")
def platform(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    logs = tmp_path_factory.mktemp("logs")
    asyncio.run(_reset_stream())
    migrate = subprocess.run(
        [sys.executable, "-m", "notes_fixture", "migrate"],
        env={"PYTHONPATH": str(ROOT / "tests-e2e"), "DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    notes_port, gateway_port = free_port(), free_port()
    with OtlpReceiver() as receiver:
        common = {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url(),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        }
        notes_env = {**common, "PORT": str(notes_port)}
        consumer_env = dict(common)
        gateway_env = {
            "PORT": str(gateway_port),
            "UPSTREAMS": json.dumps({"notes": f"http://127.0.0.1:{notes_port}"}),
            "MAX_BODY_BYTES": str(GATEWAY_MAX_BODY),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "REDIS_KEY_PREFIX": f"portal:e2e:{gateway_port}:",
        }
        notes_url = f"http://127.0.0.1:{notes_port}"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        with (
            running(["-m", "notes_fixture", "serve"], notes_env, logs / "notes.log", f"{notes_url}/readyz"),
            running(["-m", "notes_fixture", "consume"], consumer_env, logs / "consumer.log"),
            running(["-m", "gateway"], gateway_env, logs / "gateway.log", f"{gateway_url}/readyz"),
        ):
            yield Platform(gateway_url, notes_url, database_url, receiver, consumer_env, logs)


@pytest.fixture(scope="module")
def private_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNatsServer]:
    """A nats-server of this test module's own, so its streams never meet another run's."""
    with PrivateNatsServer(tmp_path_factory.mktemp("nats") / "jetstream") as server:
        yield server
