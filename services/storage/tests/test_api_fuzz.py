"""schemathesis against the storage OpenAPI: through the gateway, and signed in as a tenant's user.

The gateway mints an anonymous assertion here (no identity service runs in this suite), so the pass
through it proves the gateway path and the 401 answers; the signed-in pass drives every route's logic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from portal_core.api_fuzz import POSITIVE_AND_NEGATIVE, fuzz_operations
from portal_core.assertion import Identity
from portal_core.testing import free_port
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from storage_support import SIGNER, ServedStorage
from support.processes import running


@pytest.fixture(scope="session")
def stack(served_storage: ServedStorage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    logs = tmp_path_factory.mktemp("fuzz")
    gateway_port = free_port()
    gateway_env = {
        "PORT": str(gateway_port),
        "UPSTREAM_STORAGE_URL": served_storage.url,
        "REDIS_KEY_PREFIX": f"portal:storage-test:{uuid.uuid4().hex}:",
        "RATE_LIMIT_REQUESTS": "1000000",
        "SESSION_AUTH": "off",
    }
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    with running(["-m", "gateway"], gateway_env, logs / "gateway.log", f"{gateway_url}/readyz"):
        yield {"gateway": gateway_url, "storage": served_storage.url, "log": str(served_storage.log)}


@pytest.fixture(scope="session")
def gateway_schema(stack: dict[str, str]) -> Any:
    return schemathesis.openapi.from_url(f"{stack['gateway']}/api/storage/openapi.json")


@pytest.fixture(scope="session")
def direct_schema(stack: dict[str, str]) -> Any:
    return schemathesis.openapi.from_url(f"{stack['storage']}/api/storage/openapi.json")


# Signed in, the answers must also match the OpenAPI (status codes, media types, bodies) and invalid
# requests must be refused.
SIGNED_IN_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
TENANT = Identity(tenant_id=f"fuzz-{uuid.uuid4().hex[:8]}", user_id="fuzzer")


def _log(stack: dict[str, str]) -> str:
    return Path(stack["log"]).read_text()[-3000:]


def test_through_the_gateway_no_request_gets_a_500(gateway_schema: Any, stack: dict[str, str]) -> None:
    report = fuzz_operations(gateway_schema, base_url=stack["gateway"], modes=POSITIVE_AND_NEGATIVE, max_examples=15)
    assert report.failures == [], "\n".join(report.failures) + _log(stack)
    assert 401 in report.statuses  # the gateway forwarded to storage, which refused the anonymous caller


def test_signed_in_no_request_gets_a_500(direct_schema: Any, stack: dict[str, str]) -> None:
    report = fuzz_operations(
        direct_schema,
        base_url=stack["storage"],
        headers=lambda: {"x-portal-identity": SIGNER.mint(TENANT, "storage")},
        checks=SIGNED_IN_CHECKS,
        modes=POSITIVE_AND_NEGATIVE,
        max_examples=15,
    )
    assert report.failures == [], "\n".join(report.failures) + _log(stack)
    assert {200, 400, 404} <= report.statuses, report.statuses  # the handlers ran, not only the auth check
