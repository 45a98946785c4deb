"""`python -m storage [serve|migrate|housekeeping [--once]]`."""

from __future__ import annotations

import sys

from portal_core.server import run_worker, serve
from portal_core.settings import load_settings
from portal_db.cli import main as migrate
from portal_events import EVENT_MIGRATIONS

from storage.app import MIGRATIONS
from storage.settings import SCHEMA, StorageSettings


async def _housekeeping(settings: StorageSettings, once: bool) -> None:
    from portal_core.pagination import CursorCodec
    from portal_db import create_pool

    from storage.context import StorageContext
    from storage.housekeeping.runner import run_standalone
    from storage.s3 import ObjectStore

    pool = await create_pool(settings.database_url, name="storage-housekeeping", max_size=4)
    store = await ObjectStore(settings).open()
    try:
        ctx = StorageContext(pool, store, settings, CursorCodec(settings.cursor_secret, "unused"))
        report = await run_standalone(ctx, once=once)
        if report is not None:
            print(report, flush=True)
    finally:
        await store.close()
        await pool.close()


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        sys.exit(migrate(["--schema", SCHEMA, "--dir", str(MIGRATIONS)], library_sets=[EVENT_MIGRATIONS]))
    settings = load_settings(StorageSettings)
    if command == "housekeeping":
        from portal_core.telemetry import setup_telemetry

        setup_telemetry("storage-housekeeping", settings)
        run_worker(_housekeeping(settings, once="--once" in sys.argv[2:]))
        return
    if command != "serve":
        sys.exit(f"usage: python -m storage [serve|migrate|housekeeping [--once]], not {command!r}")
    serve("storage.app:create", host=settings.host, port=settings.port, server=settings.asgi_server)


if __name__ == "__main__":
    main()
