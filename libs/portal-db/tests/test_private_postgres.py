"""PrivatePostgres: a cluster of the test's own that survives a restart and leaves nothing behind."""

from __future__ import annotations

import asyncpg
import pytest
from portal_db.testing import PrivatePostgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_private_cluster_keeps_its_data_across_a_restart_and_is_removed_after() -> None:
    server = PrivatePostgres()
    try:
        server.start()
        conn = await asyncpg.connect(server.admin_dsn)
        await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        server.restart()
        with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError)):
            await conn.fetchval("SELECT 1")  # the restart ended every session
        conn = await asyncpg.connect(server.admin_dsn)
        assert await conn.fetchval("SELECT n FROM kept") == 7
        assert server.port != 5432
        await conn.close()
    finally:
        server.destroy()
    assert not server.data_dir.exists()
