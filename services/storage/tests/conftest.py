"""Real S3, PostgreSQL and NATS (where portal_core.test_infra finds them); a bucket and DB per session."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import nats
import pytest
from litestar.testing import AsyncTestClient
from portal_core.assertion import Identity
from portal_core.pagination import CursorCodec
from portal_core.test_infra import nats_url, s3_access
from portal_core.testing import free_port, install_test_telemetry
from portal_db import create_pool
from portal_db.testing import temporary_database
from storage.app import build
from storage.context import StorageContext
from storage.s3 import ObjectStore
from storage.settings import StorageSettings

sys.path.insert(0, str(Path(__file__).parent))
from storage_support import SIGNER, Caller, EventLog, S3Env, ServedStorage, served, service_env

install_test_telemetry()
for _noisy in ("botocore", "aiobotocore", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.INFO)


@pytest.fixture(scope="session")
async def s3() -> AsyncIterator[S3Env]:
    access = s3_access()
    bucket = f"storage-test-{uuid.uuid4().hex[:10]}"
    s3env = S3Env(access.endpoint, access.region, access.access_key, access.secret_key, bucket)
    async with s3env.client() as client:
        await client.create_bucket(Bucket=bucket)
        yield s3env
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents") or []]
            if keys:
                await client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        async for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads") or []:
                await client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        await client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database(prefix="storage_test") as url:
        migrate = subprocess.run(
            [sys.executable, "-m", "storage", "migrate"],
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        yield url


@pytest.fixture(scope="session")
def settings(s3: S3Env, database_url: str) -> StorageSettings:
    return StorageSettings(
        environment="test",
        database_url=database_url,
        nats_url=nats_url(),
        storage_endpoint=s3.endpoint,
        storage_region=s3.region,
        storage_bucket=s3.bucket,
        storage_access_key_id=s3.access_key,
        storage_secret_access_key=s3.secret(),
        storage_housekeeping_enabled=False,  # the tests run it when they mean to
        storage_default_quota_bytes=200 * 1024 * 1024,
        storage_max_upload_bytes=100 * 1024 * 1024,
        storage_allowed_content_types="text/*,image/*,application/octet-stream,application/pdf",
        storage_multipart_threshold_bytes=8 * 1024 * 1024,
        storage_orphan_grace_seconds=0,
        storage_bucket_sweep_interval_seconds=0,
    )


@pytest.fixture(scope="session")
async def client(settings: StorageSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=build(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
async def events() -> AsyncIterator[EventLog]:
    """Every storage event the relay publishes (core NATS sees JetStream publishes too)."""
    nc = await nats.connect(nats_url())
    log = EventLog()

    async def record(msg: Any) -> None:
        log.add(msg.subject, dict(msg.headers or {}), msgspec.json.decode(msg.data))

    await nc.subscribe("portal.storage.>", cb=record)
    yield log
    await nc.drain()


def _caller(client: AsyncTestClient[Any], tenant: str | None = None) -> Caller:
    identity = Identity(tenant_id=tenant or f"tenant-{uuid.uuid4().hex[:8]}", user_id=f"user-{uuid.uuid4().hex[:8]}")
    return Caller(client, identity, SIGNER)


@pytest.fixture
def alice(client: AsyncTestClient[Any]) -> Caller:
    return _caller(client)


@pytest.fixture
def bob(client: AsyncTestClient[Any]) -> Caller:
    return _caller(client)


@pytest.fixture(scope="session")
async def job_ctx(settings: StorageSettings) -> AsyncIterator[StorageContext]:
    """What the housekeeping job works with, on the test's own loop (the app runs on the client's)."""
    pool = await create_pool(settings.database_url, name="storage-test-job", max_size=4)
    store = await ObjectStore(settings).open()
    yield StorageContext(pool, store, settings, CursorCodec("unused", "unused"))
    await store.close()
    await pool.close()


@pytest.fixture(scope="session")
def served_storage(settings: StorageSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStorage]:
    """The service as production runs it (`python -m storage`, granian), on a free port."""
    log = tmp_path_factory.mktemp("served") / "storage.log"
    port = free_port()
    with served(service_env(settings), log, port):
        yield ServedStorage(f"http://127.0.0.1:{port}", log)
