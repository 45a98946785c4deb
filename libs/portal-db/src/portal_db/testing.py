"""Test support: a throw-away database on a real server, so parallel test runs never share state.

The server is the one `portal_core.test_infra` chooses (the environment's, a container, or the local one).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from portal_core.test_infra import LOCAL_ADMIN_DSN, postgres_admin_dsn
from portal_core.testing import free_port

__all__ = ["LOCAL_ADMIN_DSN", "PrivatePostgres", "temporary_database"]


@asynccontextmanager
async def temporary_database(admin_dsn: str | None = None, *, prefix: str = "portal_test") -> AsyncIterator[str]:
    """Create a uniquely named database, yield its DSN, drop it (even with open connections) at exit.

    `admin_dsn` defaults to the tests' server (`portal_core.test_infra.postgres_admin_dsn()`).
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_dsn = admin_dsn or postgres_admin_dsn()
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base, _, _ = admin_dsn.rpartition("/")
            yield f"{base}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _postgres_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        raise FileNotFoundError(f"{name} not found (install PostgreSQL server binaries)")
    return candidates[0]


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temp dir, a free port), stoppable and restartable.

    For tests that restart the database: never restart the shared server others use. initdb refuses root,
    so as root the cluster runs as user `postgres` (`run_as`). Use as a context manager or call start/destroy.
    """

    def __init__(self, run_as: str = "postgres") -> None:
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="portal-pg-")) / "data"
        self._run_as = run_as if os.geteuid() == 0 else None
        self._initialised = False

    @property
    def admin_dsn(self) -> str:
        """DSN of the `postgres` database as superuser `postgres` (trust auth on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self._run_as, "--"] if self._run_as else []
        # Test support runs fixed PostgreSQL binaries with arguments built here, never user input.
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603

    def start(self) -> None:
        """initdb on first use, then start the server and wait until it accepts connections."""
        if not self._initialised:
            if self._run_as:
                shutil.chown(self.data_dir.parent, user=self._run_as)
            self._run(_postgres_bin("initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "--no-sync")
            self._initialised = True
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=off"
        log = str(self.data_dir.parent / "server.log")
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(self.data_dir), "-l", log, "-o", options, "-w", "-t", "30", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` disconnects clients; `immediate` is a crash, recovered at next start)."""
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop (if running) and delete the cluster's files."""
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
