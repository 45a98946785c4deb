"""The service SIGKILLed between deleting metadata and deleting bytes (both orders) leaves no orphan
once the housekeeping job has run: the deletion intent is committed first and removed last."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import pytest
from portal_core.assertion import Identity
from portal_core.testing import free_port
from storage.settings import StorageSettings
from storage_support import SIGNER, S3Env, kill_group, post_form, served, service_env, sha256


async def _wait_for_line(log: Path, text: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.05)):
        if log.exists() and text in log.read_text(errors="replace"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared:\n{log.read_text()[-3000:]}")


async def _state(database_url: str, s3: S3Env, object_id: str, key: str) -> dict[str, bool]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchval("SELECT count(*) FROM storage.objects WHERE id = $1", object_id)
        intent = await conn.fetchval("SELECT count(*) FROM storage.deletions WHERE s3_key = $1", key)
    finally:
        await conn.close()
    return {"row": row == 1, "intent": intent == 1, "bytes": key in await s3.keys(key)}


@pytest.mark.parametrize(
    ("pause_at", "after_kill"),
    [
        ("deletion.after_metadata", {"row": False, "intent": True, "bytes": True}),
        ("deletion.after_bytes", {"row": False, "intent": True, "bytes": False}),
    ],
)
async def test_killed_between_metadata_and_bytes_leaves_no_orphan(
    pause_at: str, after_kill: dict[str, bool], settings: StorageSettings, s3: S3Env, tmp_path: Path
) -> None:
    port = free_port()
    identity = Identity(tenant_id=f"fault-{pause_at[-5:]}-{port}", user_id="u1")
    headers = {"x-portal-identity": SIGNER.mint(identity, "storage")}
    env = service_env(settings, STORAGE_FAULT_PAUSE_AT=pause_at)
    log = tmp_path / "storage.log"
    base = f"http://127.0.0.1:{port}/api/storage/v1"
    data = b"bytes to be deleted"
    with served(env, log, port) as process:
        async with httpx.AsyncClient(timeout=30) as api, aiohttp.ClientSession() as http:
            body = {"path": "doomed.txt", "size": len(data), "content_type": "text/plain", "sha256": sha256(data)}
            upload = (await api.post(f"{base}/uploads", json=body, headers=headers)).json()
            status, _ = await post_form(http, upload["post"], data)
            assert status == 204
            done = await api.post(f"{base}/uploads/{upload['id']}/complete", headers=headers)
            assert done.status_code == 200
            deleting = asyncio.create_task(api.delete(f"{base}/objects/{upload['id']}", headers=headers))
            await _wait_for_line(log, f"FAULT-PAUSE {pause_at}")
            kill_group(process, signal.SIGKILL)  # the server and its worker, mid-request
            process.wait(10)
            with pytest.raises(httpx.HTTPError):
                await deleting
    key = upload["post"]["fields"]["key"]
    assert await _state(settings.database_url, s3, upload["id"], key) == after_kill

    job = subprocess.run(
        [sys.executable, "-m", "storage", "housekeeping", "--once"],
        env={**service_env(settings), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert job.returncode == 0, job.stderr[-3000:]
    assert await _state(settings.database_url, s3, upload["id"], key) == {"row": False, "intent": False, "bytes": False}
