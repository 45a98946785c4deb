"""With S3 unreachable, routes that need it answer a 502 problem and readiness fails; nothing is a 500."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient
from portal_core.assertion import Identity
from portal_core.testing import refusing_port
from storage.app import build
from storage.settings import StorageSettings
from storage_support import SIGNER, Caller


async def test_an_unreachable_store_is_a_502_not_a_crash(settings: StorageSettings) -> None:
    with refusing_port() as port:
        dead = msgspec.structs.replace(settings, storage_endpoint=f"http://127.0.0.1:{port}")
        await _check_store_down(dead)


async def _check_store_down(dead: StorageSettings) -> None:
    async with AsyncTestClient(app=build(dead)) as client:
        caller = Caller(client, Identity(tenant_id="store-down", user_id="u"), SIGNER)
        body = {"path": "x.bin", "size": 10 * 1024 * 1024, "content_type": "application/octet-stream",
                "sha256": "0" * 64, "method": "multipart"}  # fmt: skip
        multipart = await caller.request("POST", "/uploads", json=body)
        assert multipart.status_code == 502
        assert multipart.json()["code"] == "object_store_unavailable"

        # A POST form is signed locally, so it is handed out; completing it needs S3.
        small = await caller.request("POST", "/uploads", json={**body, "size": 10, "method": "post"})
        assert small.status_code == 201
        done = await caller.request("POST", f"/uploads/{small.json()['id']}/complete")
        assert done.status_code == 502
        assert (await caller.request("GET", "/usage")).json()["used_bytes"] == 10  # the pending upload holds it

        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["s3"].startswith("failed")
