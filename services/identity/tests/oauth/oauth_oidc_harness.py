"""Start the npm `oidc-provider` harness (oidc_provider/server.mjs) on loopback for a test session."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from portal_core.testing import free_port

HARNESS_DIR = Path(__file__).parent / "oidc_provider"


def harness_installed() -> bool:
    return shutil.which("node") is not None and (HARNESS_DIR / "node_modules" / "oidc-provider").is_dir()


@asynccontextmanager
async def running_oidc_provider(clients: list[dict[str, Any]]) -> AsyncIterator[str]:
    """Yield the issuer URL of a fresh provider knowing `clients`; stop it at exit."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "CLIENTS": json.dumps(clients), "NODE_ENV": "development"}
    process = await asyncio.create_subprocess_exec(
        "node",
        str(HARNESS_DIR / "server.mjs"),
        cwd=HARNESS_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=None,  # pytest captures it: Apple secret refusals show up there
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        if not line.startswith(b"ready "):
            raise RuntimeError(f"oidc-provider harness did not start: {line!r}")
        yield line.decode().split()[1]
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
