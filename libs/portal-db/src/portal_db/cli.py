"""`portal-migrate --schema identity --dir services/identity/migrations [--database-url ...]`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from portal_core.server import run_worker

from portal_db.migrations import DEFAULT_TABLE, MigrationError, MigrationSet, migrate_url

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/portal"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal-migrate", description="Apply forward-only SQL migrations to a schema")
    parser.add_argument("--schema", required=True, help="schema the migrations belong to, e.g. identity")
    parser.add_argument("--dir", required=True, type=Path, help="directory of NNNN_name.sql files")
    parser.add_argument("--database-url", help="defaults to $DATABASE_URL, then the local dev database")
    return parser


async def _run(database_url: str, schema: str, sets: Sequence[MigrationSet]) -> list[str]:
    applied: list[str] = []
    for migration_set in sets:
        done = await migrate_url(
            database_url, schema=schema, directory=migration_set.directory, table=migration_set.table
        )
        applied += [f"{migration_set.table}: {m.label}" for m in done]
    return applied


def main(argv: Sequence[str] | None = None, *, library_sets: Sequence[MigrationSet] = ()) -> int:
    """Apply library migration sets, then the service's own; print what was applied. Exit 1 on a refused plan."""
    args = _parser().parse_args(argv)
    # The CLI is a composition root: the one place outside settings allowed to read the environment.
    database_url = args.database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    sets = [*library_sets, MigrationSet(args.dir, DEFAULT_TABLE)]
    try:
        applied = run_worker(_run(database_url, args.schema, sets))
    except MigrationError as exc:
        print(f"portal-migrate: refused: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"portal-migrate: {exc}", file=sys.stderr)
        return 2
    for label in applied:
        print(f"applied {args.schema}.{label}")
    if not applied:
        print(f"{args.schema}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
