"""schemathesis over the OAuth and linked-account operations of identity's OpenAPI, through the gateway,
with every provider enabled: anonymous and signed in (bearer), no input may produce a 5xx."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import schemathesis
from oauth_support import Stack, unique_login
from portal_core.api_fuzz import fuzz_operations


def _fuzz_oauth_operations(stack: Stack, headers: dict[str, str]) -> int:
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/api/identity/openapi.json")
    report = fuzz_operations(
        schema,
        base_url=stack.gateway_url,
        headers=lambda: headers,
        max_examples=25,
        select=lambda operation: "/oauth/" in operation.path or "linked-accounts" in operation.path,
    )
    assert report.failures == [], "\n".join(report.failures)
    return report.sent


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
