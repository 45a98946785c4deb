"""schemathesis against the storage OpenAPI: through the gateway, and signed in as a tenant's user.

The gateway mints an anonymous assertion here (no identity service runs in this suite), so the pass
through it proves the gateway path and the 401 answers; the signed-in pass drives every route's logic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from portal_core.assertion import Identity
from portal_core.testing import free_port
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from storage_support import SIGNER, ServedStorage
from support.processes import running

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


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


def fuzz(
    schema: Any, base_url: str, headers: Callable[[], dict[str, str]], seen: set[int], checks: list[Any]
) -> list[str]:
    """Run valid and invalid generated requests at every operation; the failures of `not_a_server_error`."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case: Any) -> None:
                response = case.call(base_url=base_url, headers=headers())
                seen.add(response.status_code)
                case.validate_response(response, checks=checks)

            try:
                run()
            except Unsatisfiable:
                continue  # no invalid request exists for an operation without inputs
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


def _log(stack: dict[str, str]) -> str:
    return Path(stack["log"]).read_text()[-3000:]


def test_through_the_gateway_no_request_gets_a_500(gateway_schema: Any, stack: dict[str, str]) -> None:
    seen: set[int] = set()
    failures = fuzz(gateway_schema, stack["gateway"], dict, seen, [not_a_server_error])
    assert failures == [], "\n".join(failures) + _log(stack)
    assert 401 in seen  # the gateway forwarded to storage, which refused the anonymous caller


def test_signed_in_no_request_gets_a_500(direct_schema: Any, stack: dict[str, str]) -> None:
    seen: set[int] = set()
    signed = lambda: {"x-portal-identity": SIGNER.mint(TENANT, "storage")}  # noqa: E731
    failures = fuzz(direct_schema, stack["storage"], signed, seen, SIGNED_IN_CHECKS)
    assert failures == [], "\n".join(failures) + _log(stack)
    assert {200, 400, 404} <= seen, seen  # the requests reached the handlers, not only the auth check
