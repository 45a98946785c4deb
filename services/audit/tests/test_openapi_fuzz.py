"""Schemathesis against the served OpenAPI: whatever it sends, the audit API never answers 5xx."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import schemathesis
from audit.chain import service as chain
from audit_support import assertion, spawn
from portal_core.api_fuzz import fuzz_operations, problem_json_errors
from portal_core.testing import free_port
from test_tamper import SIGNER, content

pytestmark = pytest.mark.integration
TENANT = "tenant-fuzz"


async def _seed(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await chain.append(conn, [content(TENANT, n) for n in range(5)], SIGNER)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def audit_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    asyncio.run(_seed(database_url))  # records to read, so the fuzzer reaches the rendering paths too
    port = free_port()
    log: Path = tmp_path_factory.mktemp("audit-serve") / "serve.log"
    process = spawn("serve", {"DATABASE_URL": database_url, "PORT": str(port), "ENVIRONMENT": "test"}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/readyz", process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"audit serve exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"audit serve not ready: {log.read_text()}")


@pytest.fixture(scope="module")
def api_schema(audit_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{audit_url}/api/audit/openapi.json")


def test_no_input_makes_the_api_fail(api_schema: schemathesis.BaseSchema) -> None:
    report = fuzz_operations(
        api_schema,
        headers=lambda: assertion(TENANT),
        extra_checks=[problem_json_errors],
        max_examples=25,
        derandomize=False,
    )
    assert len(report.operations) >= 5, "the OpenAPI document lists fewer operations than the service has"
    assert report.failures == [], "\n".join(report.failures)
    assert report.sent >= len(report.operations)  # every operation was actually called
