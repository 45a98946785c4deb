"""Migrations against a real PostgreSQL: apply, idempotence, ordering, refusal, rollback, concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from portal_db import MigrationError, migrate, migrate_url

pytestmark = pytest.mark.integration


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(sql)


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    write(directory, "0001_create_items.sql", "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL);")
    write(
        directory,
        "0002_seed_items.sql",
        "INSERT INTO items VALUES (1, 'first'); INSERT INTO items VALUES (2, 'second');",
    )
    return directory


async def test_applies_in_order_inside_the_schema(conn: asyncpg.Connection, schema: str, migrations: Path) -> None:
    applied = await migrate(conn, schema=schema, directory=migrations)

    assert [m.label for m in applied] == ["0001_create_items", "0002_seed_items"]
    assert await conn.fetchval(f"SELECT count(*) FROM {schema}.items") == 2
    rows = await conn.fetch(f"SELECT version, name, length(checksum) AS n FROM {schema}.schema_migrations ORDER BY 1")
    assert [(r["version"], r["name"], r["n"]) for r in rows] == [(1, "create_items", 64), (2, "seed_items", 64)]


async def test_second_run_applies_nothing_and_new_files_apply_after(
    conn: asyncpg.Connection, schema: str, migrations: Path
) -> None:
    await migrate(conn, schema=schema, directory=migrations)
    assert await migrate(conn, schema=schema, directory=migrations) == []

    write(migrations, "0003_add_column.sql", "ALTER TABLE items ADD COLUMN note text;")
    applied = await migrate(conn, schema=schema, directory=migrations)
    assert [m.label for m in applied] == ["0003_add_column"]


async def test_edited_migration_is_refused_by_name(conn: asyncpg.Connection, schema: str, migrations: Path) -> None:
    await migrate(conn, schema=schema, directory=migrations)
    write(migrations, "0002_seed_items.sql", "INSERT INTO items VALUES (3, 'sneaky');")
    write(migrations, "0003_later.sql", "CREATE TABLE later (id int);")

    with pytest.raises(MigrationError, match=r"0002_seed_items changed after it was applied \(checksum mismatch"):
        await migrate(conn, schema=schema, directory=migrations)
    assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.later") is None


async def test_missing_file_of_applied_version_is_refused(
    conn: asyncpg.Connection, schema: str, migrations: Path
) -> None:
    await migrate(conn, schema=schema, directory=migrations)
    (migrations / "0002_seed_items.sql").unlink()

    with pytest.raises(MigrationError, match="0002_seed_items was applied but its file is missing"):
        await migrate(conn, schema=schema, directory=migrations)


async def test_new_file_numbered_before_an_applied_one_is_refused(
    conn: asyncpg.Connection, schema: str, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    write(directory, "0002_second.sql", "CREATE TABLE second (id int);")
    await migrate(conn, schema=schema, directory=directory)
    write(directory, "0001_first.sql", "CREATE TABLE first (id int);")

    with pytest.raises(MigrationError, match="0001_first are older than the applied version 0002"):
        await migrate(conn, schema=schema, directory=directory)


async def test_failing_migration_rolls_back_itself_only(conn: asyncpg.Connection, schema: str, tmp_path: Path) -> None:
    directory = tmp_path / "m"
    write(directory, "0001_good.sql", "CREATE TABLE good (id int);")
    write(directory, "0002_bad.sql", "CREATE TABLE half (id int); INSERT INTO missing_table VALUES (1);")

    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(conn, schema=schema, directory=directory)

    assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.good") is not None
    assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.half") is None
    versions = await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")
    assert [r["version"] for r in versions] == [1]
    # The lock was released: a fixed file applies on the same connection.
    write(directory, "0002_bad.sql", "CREATE TABLE half (id int);")
    assert [m.label for m in await migrate(conn, schema=schema, directory=directory)] == ["0002_bad"]


async def test_concurrent_runs_apply_each_migration_once(database_url: str, schema: str, tmp_path: Path) -> None:
    directory = tmp_path / "m"
    # Slow first migration so the two runs really overlap; a second run would fail on CREATE TABLE.
    write(directory, "0001_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE once (id int);")
    write(directory, "0002_next.sql", "INSERT INTO once VALUES (1);")

    results = await asyncio.gather(
        migrate_url(database_url, schema=schema, directory=directory),
        migrate_url(database_url, schema=schema, directory=directory),
    )

    assert sorted(len(r) for r in results) == [0, 2]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.once") == 1
    finally:
        await conn.close()


async def test_bad_file_name_is_refused(conn: asyncpg.Connection, schema: str, tmp_path: Path) -> None:
    directory = tmp_path / "m"
    write(directory, "1_oops.sql", "SELECT 1;")

    with pytest.raises(MigrationError, match=r"1_oops\.sql"):
        await migrate(conn, schema=schema, directory=directory)
