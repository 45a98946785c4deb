"""Start suite processes as a user would (python -m ...), wait until ready, stop them with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from portal_core.test_infra import nats_url, redis_env
from portal_db.testing import temporary_database

ROOT = Path(__file__).resolve().parents[2]


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


@contextmanager
def running(
    args: list[str], env: dict[str, str], log: Path, ready_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python <args>` with `env` added; wait for `ready_url` to answer 200; SIGTERM at exit.

    The tests' Redis and NATS (portal_core.test_infra) come first, so `env` may name others.
    """
    infra = {**redis_env(), "NATS_URL": nats_url()}
    full_env = {**os.environ, **infra, "PYTHONPATH": str(ROOT / "tests-e2e"), "OTEL_BSP_SCHEDULE_DELAY": "100", **env}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, *args], env=full_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            if ready_url:
                _wait_ready(process, ready_url, log)
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while http_status(url) != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready (exit {process.poll()}):\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


@asynccontextmanager
async def migrated_database(prefix: str, packages: tuple[str, ...]) -> AsyncIterator[str]:
    """A fresh database with `python -m <package> migrate` run for each package, dropped at exit."""
    async with temporary_database(prefix=prefix) as url:
        for package in packages:
            migrate = subprocess.run(
                [sys.executable, "-m", package, "migrate"],
                env={"PYTHONPATH": str(ROOT / "tests-e2e"), "DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            assert migrate.returncode == 0, f"{package} migrate failed:\n{migrate.stderr}"
        yield url
