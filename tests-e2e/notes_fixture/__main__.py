"""`python -m notes_fixture [serve|migrate|consume]`."""

from __future__ import annotations

import sys

from portal_core.server import serve
from portal_core.settings import load_settings
from portal_db.cli import main as migrate
from portal_events import EVENT_MIGRATIONS

from notes_fixture.app import MIGRATIONS
from notes_fixture.settings import SCHEMA, NotesSettings


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        sys.exit(migrate(["--schema", SCHEMA, "--dir", str(MIGRATIONS)], library_sets=[EVENT_MIGRATIONS]))
    if command == "consume":
        from notes_fixture.consumer import run

        run()
        return
    settings = load_settings(NotesSettings)
    serve("notes_fixture.app:create", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
