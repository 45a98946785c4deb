"""`python -m audit [serve|migrate|ingest|verify|retention]`."""

from __future__ import annotations

import sys

from portal_core.server import serve
from portal_core.settings import load_settings
from portal_db.cli import main as migrate
from portal_events import EVENT_MIGRATIONS

from audit.app import MIGRATIONS
from audit.settings import SCHEMA, AuditSettings


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    rest = sys.argv[2:]
    if command == "migrate":
        sys.exit(migrate(["--schema", SCHEMA, "--dir", str(MIGRATIONS), *rest], library_sets=[EVENT_MIGRATIONS]))
    if command == "ingest":
        from audit.ingest.runner import run

        run()
        return
    if command in ("verify", "retention"):
        from audit import cli

        sys.exit(cli.verify(rest) if command == "verify" else cli.retention(rest))
    if command != "serve":
        sys.exit(f"unknown command {command!r}: serve, migrate, ingest, verify or retention")
    settings = load_settings(AuditSettings)
    serve("audit.app:create", host=settings.host, port=settings.port, server=settings.asgi_server)


if __name__ == "__main__":
    main()
