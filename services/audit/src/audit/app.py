"""The audit API's composition root: `create()` for `portal_core.server.serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from portal_core.assertion import AssertionVerifier
from portal_core.http import add_readiness_check, create_app
from portal_core.pagination import CursorCodec
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_db import check_ready, create_pool

from audit.chain.endpoints import ChainController
from audit.chain.signing import HeadSigner
from audit.records.endpoints import RecordsController
from audit.retention.endpoints import RetentionController
from audit.settings import SERVICE, AuditSettings

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = (
    "The tenant's tamper-evident audit log: every event of every service, with who, what, on which target, "
    "from where and with which outcome. Readable by the tenant's owners and admins only."
)


def build_app(settings: AuditSettings) -> Litestar:
    signer = HeadSigner(settings.audit_checkpoint_signing_key.reveal())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, name=SERVICE, max_size=10)
        app.state.pool, app.state.settings, app.state.signer = pool, settings, signer
        app.state.cursors = CursorCodec(settings.cursor_secret, "audit.records")

        async def postgres_ready() -> None:
            if not await check_ready(pool):
                raise ConnectionError("postgres")

        add_readiness_check(app, "postgres", postgres_ready)
        try:
            yield
        finally:
            await pool.close()

    return create_app(
        service=SERVICE,
        route_handlers=[RecordsController, ChainController, RetentionController],
        lifespan=[lifespan],
        verifier=AssertionVerifier(settings.identity_assertion_public_jwks, SERVICE),
        description=DESCRIPTION,
    )


def create() -> Litestar:
    settings = load_settings(AuditSettings)
    setup_telemetry(SERVICE, settings)
    return build_app(settings)
