"""What OAuth builds once per process: the enabled providers' clients, the flow store, one HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from litestar import Litestar
from litestar.datastructures import State
from redis.asyncio import Redis

from identity.oauth.clients import build_provider
from identity.oauth.config import enabled_providers
from identity.oauth.errors import ProviderNotEnabled
from identity.oauth.flows import FlowStore
from identity.oauth.providers import OAuthProvider
from identity.settings import IdentitySettings

_HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass
class OAuthRuntime:
    providers: dict[str, OAuthProvider]
    flows: FlowStore
    http: httpx.AsyncClient

    def provider(self, name: str) -> OAuthProvider:
        found = self.providers.get(name)
        if found is None:
            raise ProviderNotEnabled(f"Sign-in with {name!r} is not enabled here")
        return found

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.http.aclose()


def build_oauth_runtime(settings: IdentitySettings, redis: Redis) -> OAuthRuntime:
    # Never follow redirects: discovery, JWKS and GitHub's API answer directly or not at all.
    http = httpx.AsyncClient(timeout=_HTTP_TIMEOUT, follow_redirects=False, headers={"user-agent": "portal-identity"})
    providers = {name: build_provider(config, http) for name, config in enabled_providers(settings).items()}
    return OAuthRuntime(providers, FlowStore(redis, settings.redis_key_prefix, settings.oauth_flow_ttl_seconds), http)


@asynccontextmanager
async def oauth_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Runs after identity's runtime lifespan (it needs app.state.runtime); closes the clients at shutdown."""
    runtime = app.state.runtime
    app.state.oauth = build_oauth_runtime(runtime.settings, runtime.redis)
    try:
        yield
    finally:
        await app.state.oauth.aclose()


def provide_oauth(state: State) -> OAuthRuntime:
    oauth: OAuthRuntime | None = state.get("oauth")
    if oauth is None:  # the app was built without oauth_lifespan: build on first use (closed with the process)
        oauth = build_oauth_runtime(state.runtime.settings, state.runtime.redis)
        state.oauth = oauth
    return oauth
