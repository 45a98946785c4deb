"""The housekeeping job: abandoned uploads expire, unknown uploads and bytes are swept, nothing is orphaned."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import msgspec
from portal_core.assertion import Identity
from portal_core.testing import free_port
from storage.context import StorageContext
from storage.housekeeping.service import run_once
from storage.settings import StorageSettings
from storage_support import SIGNER, Caller, S3Env, post_form, served, service_env, sha256

MIB = 1024 * 1024


async def _expire(database_url: str, object_id: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE storage.objects SET expires_at = now() - interval '1 second' WHERE id = $1", object_id
        )
    finally:
        await conn.close()


async def _uploads(s3: S3Env) -> set[str]:
    async with s3.client() as client:
        page = await client.list_multipart_uploads(Bucket=s3.bucket)
        return {u["UploadId"] for u in page.get("Uploads") or []}


async def test_abandoned_uploads_are_aborted_and_their_quota_released(
    alice: Caller, job_ctx: StorageContext, http: aiohttp.ClientSession, s3: S3Env, database_url: str
) -> None:
    data = os.urandom(6 * MIB)
    body = {"path": "abandoned.bin", "size": len(data), "content_type": "application/octet-stream",
            "sha256": "0" * 64, "method": "multipart", "part_size": 5 * MIB}  # fmt: skip
    multipart = (await alice.request("POST", "/uploads", json=body)).json()
    urls = (await alice.request("POST", f"/uploads/{multipart['id']}/part-urls", json={"part_numbers": [1]})).json()
    async with http.put(urls["items"][0]["url"], data=data[: 5 * MIB]) as put:
        assert put.status == 200
    posted = await alice.start("never-completed.txt", b"bytes that arrived")
    status, _ = await post_form(http, posted["post"], b"bytes that arrived")
    assert status == 204
    assert len(await s3.keys(f"objects/{alice.tenant}/")) == 1
    assert (await alice.request("GET", "/usage")).json()["used_bytes"] > 0

    await _expire(database_url, multipart["id"])
    await _expire(database_url, posted["id"])
    report = await run_once(job_ctx)
    assert report.expired_uploads == 2
    assert (await alice.request("GET", f"/uploads/{multipart['id']}")).status_code == 404
    assert await s3.keys(f"objects/{alice.tenant}/") == []
    async with s3.client() as s3_client:
        page = await s3_client.list_multipart_uploads(Bucket=s3.bucket, Prefix=f"objects/{alice.tenant}/")
        assert not page.get("Uploads")
    assert (await alice.request("GET", "/usage")).json()["used_bytes"] == 0


async def test_bytes_and_uploads_no_row_knows_are_swept(alice: Caller, job_ctx: StorageContext, s3: S3Env) -> None:
    kept = await alice.upload("kept.txt", b"known")
    stray_key = f"objects/{alice.tenant}/stray-object"
    async with s3.client() as s3_client:
        await s3_client.put_object(Bucket=s3.bucket, Key=stray_key, Body=b"nobody knows me")
        stray_upload = await s3_client.create_multipart_upload(Bucket=s3.bucket, Key=f"objects/{alice.tenant}/stray-mp")
    report = await run_once(job_ctx)
    assert report.orphan_objects_deleted >= 1
    assert report.unknown_uploads_aborted >= 1
    assert await s3.keys(f"objects/{alice.tenant}/") == [f"objects/{alice.tenant}/{kept['id']}"]
    assert stray_upload["UploadId"] not in await _uploads(s3)
    assert (await alice.request("GET", f"/objects/{kept['id']}")).status_code == 200


async def test_the_service_runs_housekeeping_on_its_schedule(
    settings: StorageSettings, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    identity = Identity(tenant_id=f"scheduled-{port}", user_id="u1")
    headers = {"x-portal-identity": SIGNER.mint(identity, "storage")}
    env = service_env(settings, STORAGE_HOUSEKEEPING_ENABLED="true", STORAGE_HOUSEKEEPING_INTERVAL_SECONDS="0.3")
    with served(env, tmp_path / "storage.log", port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/storage/v1", headers=headers) as api:
            body = {"path": "soon-gone.txt", "size": 3, "content_type": "text/plain", "sha256": sha256(b"abc")}
            upload = (await api.post("/uploads", json=body)).json()
            await _expire(database_url, upload["id"])
            for _ in range(100):
                if (await api.get(f"/uploads/{upload['id']}")).status_code == 404:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the scheduled housekeeping never expired the upload")
            assert (await api.get("/usage")).json()["used_bytes"] == 0


async def test_the_bucket_sweep_runs_at_its_own_interval(alice: Caller, job_ctx: StorageContext, s3: S3Env) -> None:
    await run_once(job_ctx)  # a sweep just ran
    hourly = dataclasses.replace(
        job_ctx, settings=msgspec.structs.replace(job_ctx.settings, storage_bucket_sweep_interval_seconds=3600)
    )
    stray = f"objects/{alice.tenant}/stray-later"
    async with s3.client() as client:
        await client.put_object(Bucket=s3.bucket, Key=stray, Body=b"x")
    assert (await run_once(hourly)).orphan_objects_deleted == 0
    assert stray in await s3.keys(stray)
    assert (await run_once(job_ctx)).orphan_objects_deleted >= 1
    assert await s3.keys(stray) == []
