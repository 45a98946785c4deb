"""Composition root: settings, the event runtime (pool, NATS, outbox relay), the S3 store, housekeeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from portal_core.assertion import AssertionVerifier
from portal_core.http import add_readiness_check, create_app
from portal_core.pagination import CursorCodec
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_events import DEFAULT_TOPOLOGY, Topology, event_service_lifespan

from storage.context import StorageContext
from storage.housekeeping.runner import housekeeping_lifespan
from storage.objects.endpoints import router as objects_router
from storage.s3 import ObjectStore
from storage.settings import SCHEMA, SERVICE, StorageSettings
from storage.uploads.endpoints import router as uploads_router

MIGRATIONS = Path(__file__).parent / "migrations"
DESCRIPTION = (
    "Tenant-isolated object storage. Bytes go straight to S3 through presigned POST forms or multipart "
    "part URLs; the service keeps the metadata, checks size and SHA-256 before an object is ready, and "
    "hands out short-lived download URLs after the caller's tenant is checked."
)


def store_lifespan(settings: StorageSettings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await ObjectStore(settings).open()
        cursors = CursorCodec(settings.cursor_secret, "storage")
        app.state.ctx = StorageContext(pool=app.state.pool, store=store, settings=settings, cursors=cursors)
        add_readiness_check(app, "s3", store.check_ready)
        try:
            yield
        finally:
            await store.close()

    return lifespan


def _provide_ctx(state: State) -> StorageContext:
    ctx: StorageContext = state.ctx
    return ctx


def build(settings: StorageSettings, topology: Topology = DEFAULT_TOPOLOGY) -> Litestar:
    return create_app(
        service=SERVICE,
        route_handlers=[uploads_router, objects_router],
        lifespan=[
            event_service_lifespan(service=SERVICE, schema=SCHEMA, settings=settings, pool_size=20, topology=topology),
            store_lifespan(settings),
            housekeeping_lifespan,
        ],
        verifier=AssertionVerifier(settings.identity_assertion_public_jwks, SERVICE),
        dependencies={"ctx": Provide(_provide_ctx, sync_to_thread=False)},
        description=DESCRIPTION,
    )


def create() -> Litestar:
    settings = load_settings(StorageSettings)
    setup_telemetry(SERVICE, settings)
    return build(settings)
