"""Helpers for the storage tests: a caller with a signed identity, S3 access, the events seen on NATS."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiobotocore.session import get_session
from botocore.config import Config
from litestar.testing import AsyncTestClient
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from portal_core.settings import Secret
from support.processes import http_status

ROOT = Path(__file__).resolve().parents[3]
API = "/api/storage/v1"
SIGNER = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK)  # the gateway's development key


@dataclass(frozen=True)
class S3Env:
    endpoint: str
    region: str
    access_key: str
    secret_key: str
    bucket: str

    def secret(self) -> Secret:
        return Secret(self.secret_key)

    def client(self) -> Any:
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    async def keys(self, prefix: str = "") -> list[str]:
        async with self.client() as client:
            found: list[str] = []
            async for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found += [item["Key"] for item in page.get("Contents") or []]
            return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Caller:
    """A signed-in user of one tenant, calling the service with a gateway-style assertion."""

    client: AsyncTestClient[Any]
    identity: Identity
    signer: AssertionSigner

    @property
    def tenant(self) -> str:
        assert self.identity.tenant_id is not None
        return self.identity.tenant_id

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-portal-identity": self.signer.mint(self.identity, "storage"), **extra}

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return await self.client.request(method, f"{API}{path}", headers=headers, **kwargs)

    async def start(self, path: str, data: bytes, content_type: str = "text/plain", **body: Any) -> dict[str, Any]:
        response = await self.request(
            "POST",
            "/uploads",
            json={"path": path, "size": len(data), "content_type": content_type, "sha256": sha256(data), **body},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def upload(self, path: str, data: bytes, content_type: str = "text/plain") -> dict[str, Any]:
        """Start a POST upload, send the bytes to S3, complete it; the ready object."""
        upload = await self.start(path, data, content_type)
        async with aiohttp.ClientSession() as http:
            status, text = await post_form(http, upload["post"], data)
        assert status == 204, text
        done = await self.request("POST", f"/uploads/{upload['id']}/complete")
        assert done.status_code == 200, done.text
        return dict(done.json()["object"])


async def post_form(http: aiohttp.ClientSession, post: dict[str, Any], data: bytes, **override: str) -> tuple[int, str]:
    form = aiohttp.FormData()
    for name, value in {**post["fields"], **override}.items():
        form.add_field(name, value)
    form.add_field("file", data, filename="upload.bin")
    async with http.post(post["url"], data=form) as response:
        return response.status, await response.text()


@dataclass(frozen=True)
class ServedStorage:
    url: str
    log: Path

    def api(self, identity: Identity, signer: AssertionSigner) -> httpx.AsyncClient:
        headers = {"x-portal-identity": signer.mint(identity, "storage")}
        return httpx.AsyncClient(base_url=f"{self.url}{API}", headers=headers, timeout=30)


@dataclass
class EventLog:
    seen: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def add(self, subject: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.seen.append((subject, headers, body))

    def of(self, subject: str, tenant: str) -> list[dict[str, Any]]:
        return [body for s, h, body in self.seen if s == subject and h.get("ce-tenant") == tenant]

    async def wait(self, subject: str, tenant: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.of(subject, tenant)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{count} x {subject} for {tenant} not seen; saw {self.seen[-5:]}")
            await asyncio.sleep(0.05)
        return self.of(subject, tenant)


def service_env(settings: Any, **extra: str) -> dict[str, str]:
    """Environment for `python -m storage ...` matching the in-process test settings."""
    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "NATS_URL": settings.nats_url,
        "STORAGE_ENDPOINT": settings.storage_endpoint,
        "STORAGE_REGION": settings.storage_region,
        "STORAGE_BUCKET": settings.storage_bucket,
        "STORAGE_ACCESS_KEY_ID": settings.storage_access_key_id,
        "STORAGE_SECRET_ACCESS_KEY": settings.storage_secret_access_key.reveal(),
        "STORAGE_HOUSEKEEPING_ENABLED": "false",
        "STORAGE_ORPHAN_GRACE_SECONDS": "0",
        "STORAGE_BUCKET_SWEEP_INTERVAL_SECONDS": "0",
        "STORAGE_ALLOWED_CONTENT_TYPES": settings.storage_allowed_content_types,
        "STORAGE_MAX_UPLOAD_BYTES": str(settings.storage_max_upload_bytes),
        "STORAGE_DEFAULT_QUOTA_BYTES": str(settings.storage_default_quota_bytes),
        "LOG_LEVEL": "INFO",
        **extra,
    }


@contextmanager
def served(env: dict[str, str], log: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m storage serve` in its own process group (the server forks workers): killed as a group."""
    full_env = {**os.environ, **env, "PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "storage", "serve"],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while http_status(f"http://127.0.0.1:{port}/readyz") != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"storage not ready:\n{log.read_text()[-4000:]}")
                time.sleep(0.1)
            yield process
        finally:
            kill_group(process, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                kill_group(process, signal.SIGKILL)
                process.wait()


def kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
