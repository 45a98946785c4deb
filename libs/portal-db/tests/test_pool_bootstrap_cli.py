"""Pool readiness and JSON codecs, role/schema bootstrap, and the portal-migrate CLI."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from portal_db import bootstrap_service_db, check_ready, create_pool, migrate

pytestmark = pytest.mark.integration


async def test_pool_is_ready_and_round_trips_jsonb(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=2, name="test")
    try:
        assert await check_ready(pool)
        value = await pool.fetchval("SELECT $1::jsonb", {"a": [1, 2], "b": None})
        assert value == {"a": [1, 2], "b": None}
    finally:
        await pool.close()


async def test_readiness_is_false_when_the_server_is_unreachable() -> None:
    unreachable = await create_pool("postgresql://postgres@127.0.0.1:1/postgres", min_size=0, max_size=1)
    try:
        assert not await check_ready(unreachable, within=0.5)
    finally:
        await unreachable.close()


async def test_bootstrap_creates_role_and_schema_idempotently(database_url: str, tmp_path: Path) -> None:
    role = f"svc_{uuid.uuid4().hex[:8]}"
    try:
        await bootstrap_service_db(database_url, role=role, schema=role)
        await bootstrap_service_db(database_url, role=role, schema=role)

        base, _, database = database_url.rpartition("/")
        service = await asyncpg.connect(f"{base.replace('postgres@', f'{role}@')}/{database}")
        try:
            assert await service.fetchval("SHOW search_path") == role
            assert not await service.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            await service.execute("CREATE TABLE things (id int)")
            assert await service.fetchval("SELECT schemaname FROM pg_tables WHERE tablename = 'things'") == role
            migrations = tmp_path / "migrations"
            migrations.mkdir()
            (migrations / "0001_widgets.sql").write_text("CREATE TABLE widgets (id int);")
            applied = await migrate(service, schema=role, directory=migrations)  # as the service role itself
            assert [m.version for m in applied] == [1]
        finally:
            await service.close()
    finally:
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f"DROP SCHEMA IF EXISTS {role} CASCADE")
            await admin.execute(f"DROP OWNED BY {role}")
            await admin.execute(f"DROP ROLE IF EXISTS {role}")
        finally:
            await admin.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal_db.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_prints_applied_then_refuses_an_edited_file(database_url: str, schema: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int);")

    first = run_cli("--schema", schema, "--dir", str(tmp_path), "--database-url", database_url)
    assert first.returncode == 0, first.stderr
    assert f"applied {schema}.schema_migrations: 0001_first" in first.stdout

    second = run_cli("--schema", schema, "--dir", str(tmp_path), "--database-url", database_url)
    assert (second.returncode, second.stdout.strip()) == (0, f"{schema}: up to date")

    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id bigint);")
    edited = run_cli("--schema", schema, "--dir", str(tmp_path), "--database-url", database_url)
    assert edited.returncode == 1
    assert "0001_first changed after it was applied (checksum mismatch" in edited.stderr
