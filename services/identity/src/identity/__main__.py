"""`python -m identity [serve|migrate]`."""

from __future__ import annotations

import sys

from portal_core.server import serve
from portal_core.settings import load_settings
from portal_db.cli import main as migrate
from portal_events import EVENT_MIGRATIONS

from identity.app import MIGRATIONS
from identity.settings import SCHEMA, IdentitySettings


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        sys.exit(migrate(["--schema", SCHEMA, "--dir", str(MIGRATIONS)], library_sets=[EVENT_MIGRATIONS]))
    if command != "serve":
        sys.exit(f"usage: python -m identity [serve|migrate], not {command!r}")
    settings = load_settings(IdentitySettings)
    serve("identity.app:create", host=settings.host, port=settings.port, server=settings.asgi_server)


if __name__ == "__main__":
    main()
