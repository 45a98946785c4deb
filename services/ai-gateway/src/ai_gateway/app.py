"""The AI gateway's composition root: settings, providers, routes, and the lifespans that build them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from litestar import Litestar
from portal_core.assertion import AssertionVerifier
from portal_core.http import add_readiness_check, create_app
from portal_core.pagination import CursorCodec
from portal_core.rate_limit import RateLimiter
from portal_core.redis import create_redis
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_events import DEFAULT_TOPOLOGY, Topology, event_service_lifespan

from ai_gateway.budgets.endpoints import put_budget, read_budget
from ai_gateway.chat.service import ChatService
from ai_gateway.compat.endpoints import anthropic_router, openai_router
from ai_gateway.limits.rate_limit import CallLimits, Limits
from ai_gateway.policies.endpoints import put_policy, read_policy
from ai_gateway.providers.registry import build_providers
from ai_gateway.routing.breaker import Breakers
from ai_gateway.routing.catalog import Catalog
from ai_gateway.routing.dispatcher import Dispatcher
from ai_gateway.settings import SCHEMA, SERVICE, AiSettings
from ai_gateway.usage.endpoints import list_usage

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """One API over Anthropic, Gemini and OpenAI (and a built-in deterministic `local` provider).

`POST /api/ai/v1/chat/completions` and `GET /api/ai/v1/models` speak OpenAI's API, `POST /api/ai/v1/messages`
speaks Anthropic's: point either SDK at `<gateway>/api/ai/v1`. Those three routes answer errors in their
API's own shape, because the SDKs parse it; the other routes use the suite's problem+json.
Models are `provider/model` (`openai/gpt-4o-mini`, `anthropic/claude-sonnet-4-5`, `gemini/gemini-2.5-flash`,
`local/echo`) or a configured alias.
"""


def chat_lifespan(settings: AiSettings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Needs `pool` from the event lifespan (listed before it); puts `chat` and `catalog` on app.state."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_host, settings.redis_port, settings.redis_password)
        providers = build_providers(settings)
        catalog = Catalog(set(providers), settings.aliases(), settings.fallbacks(), settings.listed_models())
        limits = Limits(
            tenant_requests=settings.tenant_requests_per_minute,
            user_requests=settings.user_requests_per_minute,
            tenant_tokens=settings.tenant_tokens_per_minute,
            user_tokens=settings.user_tokens_per_minute,
        )
        dispatcher = Dispatcher(
            providers,
            Breakers(settings.breaker_failure_threshold, settings.breaker_reset_seconds),
            attempts=settings.retry_attempts,
            max_wait=settings.retry_max_wait_seconds,
            backoff=(settings.retry_backoff_initial_seconds, settings.retry_backoff_max_seconds),
        )
        limiter = CallLimits(RateLimiter(redis, key_prefix=f"{settings.redis_key_prefix}limits:"), limits)
        app.state.catalog = catalog
        app.state.usage_cursors = CursorCodec(settings.cursor_secret, "ai.usage")
        chat = app.state.chat = ChatService(
            app.state.pool,
            limiter,
            catalog,
            dispatcher,
            settings.prices(),
            settings.stale_after_seconds(),
            tenant_state_ttl_seconds=settings.tenant_state_ttl_seconds,
        )
        chat.start()

        async def redis_ready() -> None:
            await redis.ping()

        add_readiness_check(app, "redis", redis_ready)
        try:
            yield
        finally:
            await chat.drain()
            for provider in providers.values():
                await provider.aclose()
            await redis.aclose()

    return lifespan


def create(settings: AiSettings | None = None, topology: Topology = DEFAULT_TOPOLOGY) -> Litestar:
    """The app (`portal_core.server.serve` calls this with no arguments; tests pass settings)."""
    settings = settings or load_settings(AiSettings)
    setup_telemetry(SERVICE, settings)
    return create_app(
        service=SERVICE,
        description=DESCRIPTION,
        route_handlers=[openai_router, anthropic_router, list_usage, read_budget, put_budget, read_policy, put_policy],
        lifespan=[
            event_service_lifespan(service=SERVICE, schema=SCHEMA, settings=settings, topology=topology),
            chat_lifespan(settings),
        ],
        verifier=AssertionVerifier(settings.identity_assertion_public_jwks, SERVICE),
    )
