"""schemathesis against the identity OpenAPI, through the gateway: anonymous and signed in (bearer).

Operations are driven one by one with hypothesis (schemathesis' pytest plugin does not load under
pytest 9 here: `'Function' object has no attribute '_nodeid'`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from identity_support import Stack, log_in, sign_up
from schemathesis.checks import not_a_server_error

FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def bearer_headers(stack: Stack) -> dict[str, str]:
    account = sign_up(stack)
    _, response = log_in(stack, account.email, token_delivery="bearer")
    return {"authorization": f"Bearer {response.json()['session']['token']}", "x-forwarded-for": "10.250.0.2"}


def fuzz_every_operation(stack: Stack, make_headers: Callable[[], dict[str, str]]) -> int:
    """Run FUZZ examples of every operation through the gateway; fail on any 5xx. Returns the cases sent.

    Each operation gets fresh headers: a signed-in pass must not lose its session to a fuzzed logout.
    """
    schema = schemathesis.openapi.from_url(f"{stack.gateway}/api/identity/openapi.json")
    sent = 0

    def fuzz(operation: Any, headers: dict[str, str]) -> None:
        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            response = case.call(base_url=stack.gateway, headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        run()

    for result in schema.get_all_operations():
        fuzz(result.ok(), make_headers())
    return sent


def test_the_openapi_documents_every_public_route(stack: Stack) -> None:
    document = stack.client().get("/api/identity/openapi.json").json()
    paths = set(document["paths"])
    for path in (
        "/api/identity/v1/signup",
        "/api/identity/v1/login",
        "/api/identity/v1/login/mfa",
        "/api/identity/v1/sessions",
        "/api/identity/v1/mfa/totp/enrol",
        "/api/identity/v1/members",
        "/api/identity/v1/invitations",
        "/api/identity/v1/invitations/accept",
    ):
        assert path in paths
    assert not any(p.startswith("/internal") for p in paths)


def test_anonymous_requests_never_get_a_500(stack: Stack) -> None:
    assert fuzz_every_operation(stack, lambda: {"x-forwarded-for": "10.250.0.1"}) > 100


def test_signed_in_requests_never_get_a_500(stack: Stack) -> None:
    assert fuzz_every_operation(stack, lambda: bearer_headers(stack)) > 100
