"""schemathesis against the storage OpenAPI through the gateway, signed in with a real session:
identity, storage and the gateway as processes, the session from a sign-up, every operation fuzzed
with valid and invalid requests. No answer may be a 5xx."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import schemathesis
from portal_core.api_fuzz import POSITIVE_AND_NEGATIVE, fuzz_operations
from portal_core.test_infra import s3_access
from portal_core.testing import free_port
from portal_events.testing import PrivateNatsServer
from support.processes import migrated_database, running

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with migrated_database("portal_e2e_storage", ("identity", "storage")) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(database: str, private_nats: PrivateNatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("storage-e2e")
    identity_port, storage_port, gateway_port = free_port(), free_port(), free_port()
    common = {
        "DATABASE_URL": database,
        "NATS_URL": private_nats.url,
        "REDIS_KEY_PREFIX": f"portal:e2e-storage:{gateway_port}:",
    }
    storage_env = {
        **common,
        **s3_access().env(),
        "PORT": str(storage_port),
        "STORAGE_BUCKET": "portal-test",  # made by `make infra` and by the S3 container alike
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
    report = fuzz_operations(
        schema, base_url=gateway, headers=lambda: bearer, modes=POSITIVE_AND_NEGATIVE, max_examples=15
    )
    assert report.failures == [], "\n".join(report.failures)
    seen = report.statuses
    assert {200, 201} & seen, f"signed-in requests reached storage's handlers and succeeded: {seen}"
    assert 400 in seen, f"invalid requests were refused as such: {seen}"
