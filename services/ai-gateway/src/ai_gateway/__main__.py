"""`python -m ai_gateway [serve|migrate|sweep]`.

`sweep` settles, once, the calls that crashed processes left unfinished (the server also does this every
few seconds; the command is for operators and tests)."""

from __future__ import annotations

import sys

from portal_core.server import run_worker, serve
from portal_core.settings import load_settings
from portal_db import create_pool
from portal_db.cli import main as migrate
from portal_events import EVENT_MIGRATIONS

from ai_gateway.app import MIGRATIONS
from ai_gateway.settings import SCHEMA, AiSettings
from ai_gateway.usage.sweeper import sweep_interrupted


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        sys.exit(migrate(["--schema", SCHEMA, "--dir", str(MIGRATIONS)], library_sets=[EVENT_MIGRATIONS]))
    if command not in ("serve", "sweep"):
        sys.exit(f"usage: python -m ai_gateway [serve|migrate|sweep] (got {command!r})")
    settings = load_settings(AiSettings)
    if command == "sweep":
        print(f"settled {run_worker(sweep(settings))} interrupted calls")
        return
    serve("ai_gateway.app:create", host=settings.host, port=settings.port, server=settings.asgi_server)


async def sweep(settings: AiSettings) -> int:
    pool = await create_pool(settings.database_url, max_size=1, name="ai-sweep")
    try:
        return len(await sweep_interrupted(pool, settings.stale_after_seconds()))
    finally:
        await pool.close()


if __name__ == "__main__":
    main()
