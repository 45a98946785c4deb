"""schemathesis against the identity OpenAPI, through the gateway: anonymous and signed in (bearer)."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from identity_support import Stack, log_in, sign_up
from portal_core.api_fuzz import fuzz_operations


def bearer_headers(stack: Stack) -> dict[str, str]:
    account = sign_up(stack)
    _, response = log_in(stack, account.email, token_delivery="bearer")
    return {"authorization": f"Bearer {response.json()['session']['token']}", "x-forwarded-for": "10.250.0.2"}


def fuzz_every_operation(stack: Stack, make_headers: Callable[[], dict[str, str]]) -> int:
    """20 examples of every operation through the gateway; fail on any 5xx. Returns the cases sent.

    Each operation gets fresh headers: a signed-in pass must not lose its session to a fuzzed logout.
    """
    schema = schemathesis.openapi.from_url(f"{stack.gateway}/api/identity/openapi.json")
    report = fuzz_operations(schema, base_url=stack.gateway, headers=make_headers, fresh_headers="operation")
    assert report.failures == [], "\n".join(report.failures)
    return report.sent


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
