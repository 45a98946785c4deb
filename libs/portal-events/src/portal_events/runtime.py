"""A service's event runtime in one lifespan: pool, NATS, its stream, the outbox relay, readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from portal_core.http import add_readiness_check
from portal_core.settings import ServiceSettings
from portal_db import check_ready, create_pool

from portal_events.connection import check_nats_ready, connect_nats
from portal_events.relay import OutboxRelay
from portal_events.topology import DEFAULT_TOPOLOGY, Topology, ensure_service_stream


class DependencyDown(ConnectionError):
    """Raised by a readiness check whose dependency does not answer."""


def event_service_lifespan(
    *,
    service: str,
    schema: str,
    settings: ServiceSettings,
    pool_size: int = 10,
    topology: Topology = DEFAULT_TOPOLOGY,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Lifespan that puts `pool` and `js` on app.state and runs the outbox relay while the app serves."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, name=service, max_size=pool_size)
        nc = await connect_nats(settings.nats_url, service)
        js = nc.jetstream()
        await ensure_service_stream(js, service, topology)
        relay = OutboxRelay(pool, js, schema)
        relay.start()
        app.state.pool, app.state.nats, app.state.js = pool, nc, js

        async def postgres_ready() -> None:
            if not await check_ready(pool):
                raise DependencyDown("postgres")

        async def nats_ready() -> None:
            if not await check_nats_ready(nc):
                raise DependencyDown("nats")

        add_readiness_check(app, "postgres", postgres_ready)
        add_readiness_check(app, "nats", nats_ready)
        try:
            yield
        finally:
            await relay.stop()
            await nc.drain()
            await pool.close()

    return lifespan
