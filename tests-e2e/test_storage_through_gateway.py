"""schemathesis against the storage OpenAPI through the gateway, signed in with a real session:
identity, storage and the gateway as processes, the session from a sign-up, every operation fuzzed
with valid and invalid requests. No answer may be a 5xx."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from portal_core.testing import free_port
from portal_events.testing import PrivateNatsServer
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from support.processes import ROOT, migrated_database, running

pytestmark = pytest.mark.integration
FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def infra_env() -> dict[str, str]:
    """Where `make infra` runs the local S3 (SeaweedFS, with its `portal-test` bucket)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "infra.py"), "env"], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with migrated_database("portal_e2e_storage", ("identity", "storage")) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(database: str, private_nats: PrivateNatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("storage-e2e")
    identity_port, storage_port, gateway_port = free_port(), free_port(), free_port()
    s3 = {k: v for k, v in infra_env().items() if k.startswith("STORAGE_")}
    common = {
        "DATABASE_URL": database,
        "NATS_URL": private_nats.url,
        "REDIS_KEY_PREFIX": f"portal:e2e-storage:{gateway_port}:",
    }
    storage_env = {
        **common,
        **s3,
        "PORT": str(storage_port),
        "STORAGE_BUCKET": "portal-test",
        "STORAGE_KEY_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}/",
    }
    upstreams = {"identity": f"http://127.0.0.1:{identity_port}", "storage": f"http://127.0.0.1:{storage_port}"}
    gateway_env = {
        **common,
        "PORT": str(gateway_port),
        "UPSTREAMS": json.dumps(upstreams),
        "RATE_LIMIT_REQUESTS": "1000000",
    }
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    with (
        running(
            ["-m", "identity"],
            {**common, "PORT": str(identity_port)},
            logs / "identity.log",
            f"{upstreams['identity']}/readyz",
        ),
        running(["-m", "storage"], storage_env, logs / "storage.log", f"{upstreams['storage']}/readyz"),
        running(["-m", "gateway"], gateway_env, logs / "gateway.log", f"{gateway_url}/readyz"),
    ):
        yield gateway_url


def test_signed_in_through_the_gateway_no_request_gets_a_5xx(gateway: str) -> None:
    signed_up = httpx.post(
        f"{gateway}/api/identity/v1/signup",
        json={"email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com", "password": "a long enough passphrase"}
        | {"token_delivery": "bearer"},
        timeout=30,
    )
    assert signed_up.status_code == 201, signed_up.text
    bearer = {"authorization": f"Bearer {signed_up.json()['session']['token']}"}
    schema = schemathesis.openapi.from_url(f"{gateway}/api/storage/openapi.json")
    seen: set[int] = set()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case: Any) -> None:
                response = case.call(base_url=gateway, headers=bearer)
                seen.add(response.status_code)
                case.validate_response(response, checks=[not_a_server_error])

            try:
                run()
            except Unsatisfiable:
                continue  # no invalid request exists for an operation without inputs
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert failures == [], "\n".join(failures)
    assert {200, 201} & seen, f"signed-in requests reached storage's handlers and succeeded: {seen}"
    assert 400 in seen, f"invalid requests were refused as such: {seen}"
