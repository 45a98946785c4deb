"""Text PostgreSQL cannot store (a NUL character) is the client's mistake: a 400 problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody
from litestar.testing import AsyncTestClient
from portal_core.assertion import AssertionVerifier
from portal_core.dev_keys import DEV_ASSERTION_PUBLIC_JWKS
from portal_core.http import create_app
from portal_db import create_pool

pytestmark = pytest.mark.integration


@get("/api/demo/v1/echo")
async def echo(text: FromQuery[str], state: State) -> dict[str, str]:
    return {"stored": await state.pool.fetchval("SELECT $1::text", text)}


@post("/api/demo/v1/echo")
async def echo_body(data: JSONBody[dict[str, str]], state: State) -> dict[str, str]:
    return {"stored": await state.pool.fetchval("SELECT $1::text", data["text"])}


async def test_a_nul_character_in_a_query_or_body_is_a_400(database_url: str) -> None:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, name="nul-test", max_size=2)
        yield
        await app.state.pool.close()

    app = create_app(
        service="demo",
        route_handlers=[echo, echo_body],
        lifespan=[lifespan],
        verifier=AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "demo"),
    )
    async with AsyncTestClient(app) as client:
        assert (await client.get("/api/demo/v1/echo", params={"text": "fine"})).json() == {"stored": "fine"}
        refused = [
            await client.get("/api/demo/v1/echo?text=a%00b"),  # refused before the handler runs
            await client.post("/api/demo/v1/echo", json={"text": "a\u0000b"}),  # refused by PostgreSQL
        ]
    for response in refused:
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_text"
