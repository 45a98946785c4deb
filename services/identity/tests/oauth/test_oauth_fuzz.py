"""schemathesis over the OAuth and linked-account operations of identity's OpenAPI, through the gateway,
with every provider enabled: anonymous and signed in (bearer), no input may produce a 5xx."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from oauth_support import Stack, unique_login
from schemathesis.checks import not_a_server_error

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _fuzz_oauth_operations(stack: Stack, headers: dict[str, str]) -> int:
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/api/identity/openapi.json")
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here, failing the test
        if "/oauth/" not in operation.path and "linked-accounts" not in operation.path:
            continue

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            response = case.call(base_url=stack.gateway_url, headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        run()
    return sent


async def test_no_input_is_a_server_error(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        signed_up = await client.post(
            f"{stack.gateway_url}/api/identity/v1/signup",
            json={"email": unique_login("fuzz"), "password": f"fuzz {uuid.uuid4().hex}", "token_delivery": "bearer"},
        )
    bearer = {"authorization": f"Bearer {signed_up.json()['session']['token']}"}
    # schemathesis calls are blocking: run them off the loop that serves identity and the gateway.
    anonymous = await asyncio.to_thread(_fuzz_oauth_operations, stack, {})
    signed_in = await asyncio.to_thread(_fuzz_oauth_operations, stack, bearer)
    assert anonymous >= 6 * 10  # six operations, each actually exercised
    assert signed_in >= 6 * 10
