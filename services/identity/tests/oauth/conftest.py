"""OAuth tests on real components: identity and the gateway served on loopback, PostgreSQL, Redis, NATS,
the npm `oidc-provider` standing in for Google, Microsoft and Apple, a GitHub fake, and our crafted OIDC
server for the negative cases. A test drives a browser (httpx with a cookie jar) through the gateway.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from identity.app import build_app
from identity.settings import IdentitySettings
from joserfc.jwk import ECKey
from portal_core.settings import Secret
from portal_core.test_infra import nats_url, redis_address
from portal_core.testing import free_port, install_test_telemetry
from portal_db.testing import temporary_database
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).parent))
from oauth_crafted_oidc import CraftedOidc, running_crafted_oidc
from oauth_fake_github import FakeGitHub, running_fake_github
from oauth_oidc_harness import harness_installed, running_oidc_provider
from oauth_support import APPLE_KEY_ID, APPLE_TEAM_ID, EventLog, Stack

install_test_telemetry()
RUN = uuid.uuid4().hex[:10]

if not harness_installed():
    pytest.exit("the oidc-provider harness is not installed: run `make install` (npm ci in tests/oauth/oidc_provider)")


class ServedApp:
    """An ASGI app served by uvicorn inside the test's event loop."""

    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ServedApp:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


def _apple_key() -> tuple[str, dict[str, Any]]:
    """A P-256 key like the .p8 Apple hands out (PKCS#8 PEM) and its public JWK for the provider."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, ECKey.import_key(pem).as_dict(private=False)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database(prefix="identity_oauth_test") as url:
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "identity", "migrate"],
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        yield url


@pytest.fixture(scope="session")
async def events() -> AsyncIterator[EventLog]:
    """Every identity event the relay publishes (core NATS sees JetStream publishes too)."""
    nc = await nats.connect(nats_url())
    log = EventLog()

    async def record(msg: Any) -> None:
        log.add(msg.subject, dict(msg.headers or {}), msg.data, msgspec.json.decode(msg.data))

    await nc.subscribe("portal.identity.>", cb=record)
    yield log
    await nc.drain()


@pytest.fixture(scope="session")
async def stack(database_url: str) -> AsyncIterator[Stack]:
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    apple_pem, apple_public_jwk = _apple_key()

    def callback(provider: str) -> str:
        return f"{gateway_url}/api/oauth/{provider}/callback"

    def client(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "client_id": f"{name}-client",
            "client_secret": f"{name}-secret-{RUN}",
            "redirect_uris": [callback(name)],
            "token_endpoint_auth_method": "client_secret_post",
            **extra,
        }

    clients = [
        client("google"),
        client("microsoft"),
        client(
            "apple",
            response_modes=["form_post"],
            apple={"team_id": APPLE_TEAM_ID, "key_id": APPLE_KEY_ID, "public_jwk": apple_public_jwk},
        ),
    ]
    async with (
        running_oidc_provider(clients) as issuer,
        running_fake_github("github-client", f"github-secret-{RUN}", callback("github")) as github,
    ):
        redis_host, redis_port = redis_address()
        settings = IdentitySettings(
            environment="test",
            database_url=database_url,
            nats_url=nats_url(),
            redis_host=redis_host,
            redis_port=redis_port,
            redis_key_prefix=f"test:identity-oauth:{RUN}:",
            cookie_secure=False,  # plain http on loopback
            argon2_memory_kib=19 * 1024,
            oauth_redirect_base_url=gateway_url,
            oauth_github_client_id="github-client",
            oauth_github_client_secret=Secret(f"github-secret-{RUN}"),
            oauth_github_authorize_url=f"{github.base_url}/login/oauth/authorize",
            oauth_github_token_url=f"{github.base_url}/login/oauth/access_token",
            oauth_github_api_url=f"{github.base_url}/api",
            oauth_google_client_id="google-client",
            oauth_google_client_secret=Secret(f"google-secret-{RUN}"),
            oauth_google_issuer=issuer,
            oauth_microsoft_client_id="microsoft-client",
            oauth_microsoft_client_secret=Secret(f"microsoft-secret-{RUN}"),
            oauth_microsoft_tenant_id="9188040d-6c67-4c5b-b112-36a304b66dad",
            oauth_microsoft_issuer=issuer,
            oauth_apple_client_id="apple-client",
            oauth_apple_team_id=APPLE_TEAM_ID,
            oauth_apple_key_id=APPLE_KEY_ID,
            oauth_apple_private_key=Secret(apple_pem.replace("\n", "\\n")),  # as one env line would carry it
            oauth_apple_issuer=issuer,
        )
        identity_port = free_port()
        gateway_settings = GatewaySettings(
            environment="test",
            port=gateway_port,
            upstream_identity_url=f"http://127.0.0.1:{identity_port}",
            redis_host=redis_host,
            redis_port=redis_port,
            redis_key_prefix=f"test:gateway-oauth:{RUN}:",
            rate_limit_requests=100_000,
        )
        try:
            async with (
                ServedApp(build_app(settings), identity_port) as identity,
                ServedApp(create_gateway(gateway_settings), gateway_port) as gateway,
            ):
                yield Stack(
                    settings=settings, gateway_url=gateway.url, identity_url=identity.url, issuer=issuer, github=github
                )
        finally:
            await _delete_keys(settings.redis_key_prefix, gateway_settings.redis_key_prefix)


async def _delete_keys(*prefixes: str) -> None:
    """The sessions and flows this run left in the shared Redis."""
    host, port = redis_address()
    client = Redis(host=host, port=port)
    for prefix in prefixes:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def new_browser(stack: Stack) -> AsyncIterator[Callable[[], Awaitable[httpx.AsyncClient]]]:
    """Fresh browsers (each its own cookie jar), closed after the test."""
    opened: list[httpx.AsyncClient] = []

    async def open_browser() -> httpx.AsyncClient:
        client = httpx.AsyncClient(follow_redirects=False, timeout=30.0)
        opened.append(client)
        return client

    yield open_browser
    for client in opened:
        await client.aclose()


@pytest.fixture(scope="session")
async def crafted() -> AsyncIterator[CraftedOidc]:
    async with running_crafted_oidc() as server:
        yield server


@pytest.fixture(scope="session")
def github(stack: Stack) -> FakeGitHub:
    return stack.github
