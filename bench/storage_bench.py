"""Storage benchmark on a real SeaweedFS, PostgreSQL and NATS, the service served as in production (granian).

`uv run python bench/storage_bench.py` prints one JSON summary:
  overhead_ms              p50/p99 of POST /uploads + POST /uploads/{id}/complete for a 1 KiB object
                           (the service's own work: DB, quota, presigning, the S3 HEAD that verifies the
                           bytes; the client's POST of the bytes to S3 is not counted). Target p50 <= 10 ms.
                           Baselines from the same run: s3_head_p50 (one direct aiobotocore HEAD) and
                           usage_get_p50 (an authenticated GET /usage: HTTP + assertion + one query) and
                           pg_commit_p50 (one durable commit; create and complete pay one each).
  multipart                N MiB through presigned part URLs (create, part URLs, PUTs, complete with
                           size + SHA-256 verification) vs a direct aiobotocore multipart upload of the same
                           bytes with the same part size and concurrency; MB/s of each and the ratio (>= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiobotocore.session import get_session
from botocore.config import Config
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from portal_core.testing import free_port
from portal_db.testing import LOCAL_ADMIN_DSN, temporary_database

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def infra_env() -> dict[str, str]:
    script = ROOT / "scripts" / "infra.py"
    subprocess.run([sys.executable, str(script), "ensure"], check=True, capture_output=True, timeout=180)
    out = subprocess.run([sys.executable, str(script), "env"], check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return env


def s3_client(env: dict[str, str]) -> Any:
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    return get_session().create_client(
        "s3",
        endpoint_url=env["STORAGE_ENDPOINT"],
        region_name=env["STORAGE_REGION"],
        aws_access_key_id=env["STORAGE_ACCESS_KEY_ID"],
        aws_secret_access_key=env["STORAGE_SECRET_ACCESS_KEY"],
        config=config,
    )


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self._signer = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK)
        self._identity = Identity(tenant_id=f"bench-{uuid.uuid4().hex[:8]}", user_id="bench")
        self._token = self._signer.mint(self._identity, "storage")
        self._minted = time.monotonic()

    def headers(self) -> dict[str, str]:
        if time.monotonic() - self._minted > 30:  # assertions live 60 s, as the gateway's do
            self._token, self._minted = self._signer.mint(self._identity, "storage"), time.monotonic()
        return {"x-portal-identity": self._token}

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.request(method, f"{self.base}{path}", json=body, headers=self.headers()) as response:
            text = await response.text()
            if response.status != expect:
                raise RuntimeError(f"{method} {path}: {response.status} {text[:300]}")
            return json.loads(text) if text else None


async def post_bytes(http: aiohttp.ClientSession, post: dict[str, Any], data: bytes) -> None:
    form = aiohttp.FormData()
    for name, value in post["fields"].items():
        form.add_field(name, value)
    form.add_field("file", data, filename="bench.bin")
    async with http.post(post["url"], data=form) as response:
        if response.status != 204:
            raise RuntimeError(f"S3 POST {response.status}: {await response.text()}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def floor(api: Api, iterations: int) -> float:
    """p50 of an authenticated GET /usage (one small query): the service's HTTP + auth + DB floor."""
    timings = []
    for _ in range(iterations):
        started = time.perf_counter()
        await api.call("GET", "/usage")
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings[len(timings) // 10 :]), 2)


async def commit_floor(database_url: str, iterations: int) -> float:
    """p50 of a one-row INSERT transaction: the durable commit (WAL flush) each create and complete pays."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE public.bench_commit (n int)")
        timings = []
        for n in range(iterations):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO public.bench_commit VALUES ($1)", n)
            timings.append((time.perf_counter() - started) * 1000)
        await conn.execute("DROP TABLE public.bench_commit")
        return round(statistics.median(timings), 2)
    finally:
        await conn.close()


async def overhead(api: Api, s3: Any, bucket: str, iterations: int) -> dict[str, float]:
    data = os.urandom(1024)
    digest = hashlib.sha256(data).hexdigest()
    timings, creates, completes, heads = [], [], [], []
    for n in range(iterations):
        body = {
            "path": f"overhead/{n}.bin",
            "size": len(data),
            "content_type": "application/octet-stream",
            "sha256": digest,
        }
        started = time.perf_counter()
        upload = await api.call("POST", "/uploads", body, expect=201)
        created = time.perf_counter() - started
        await post_bytes(api.http, upload["post"], data)
        started = time.perf_counter()
        await api.call("POST", f"/uploads/{upload['id']}/complete")
        completed = time.perf_counter() - started
        timings.append((created + completed) * 1000)
        creates.append(created * 1000)
        completes.append(completed * 1000)
        started = time.perf_counter()
        await s3.head_object(Bucket=bucket, Key=upload["post"]["fields"]["key"], ChecksumMode="ENABLED")
        heads.append((time.perf_counter() - started) * 1000)
        await api.call("DELETE", f"/objects/{upload['id']}", expect=204)
    warm = timings[max(1, iterations // 10) :]  # the first requests warm pools and caches
    return {
        "p50": round(statistics.median(warm), 2),
        "p99": round(percentile(warm, 0.99), 2),
        "create_p50": round(statistics.median(creates[len(creates) // 10 :]), 2),
        "complete_p50": round(statistics.median(completes[len(completes) // 10 :]), 2),
        "s3_head_p50": round(statistics.median(heads), 2),
        "usage_get_p50": await floor(api, iterations),
        "iterations": iterations,
        "target_p50_ms": 10.0,
    }


async def direct_multipart(s3: Any, bucket: str, data: bytes, part_size: int, concurrency: int) -> float:
    key = f"direct/{uuid.uuid4()}"
    limit = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    upload = await s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/octet-stream")

    async def part(number: int) -> dict[str, Any]:
        async with limit:
            chunk = data[(number - 1) * part_size : number * part_size]
            answer = await s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=chunk
            )
            return {"PartNumber": number, "ETag": answer["ETag"]}

    count = -(-len(data) // part_size)
    parts = await asyncio.gather(*(part(n) for n in range(1, count + 1)))
    await s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": list(parts)}
    )
    seconds = time.perf_counter() - started
    await s3.delete_object(Bucket=bucket, Key=key)
    return len(data) / seconds / 1e6


async def service_multipart(api: Api, data: bytes, digest: str, part_size: int, concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)
    body = {"path": f"mp/{uuid.uuid4()}.bin", "size": len(data), "content_type": "application/octet-stream",
            "sha256": digest, "method": "multipart", "part_size": part_size}  # fmt: skip
    started = time.perf_counter()
    upload = await api.call("POST", "/uploads", body, expect=201)
    numbers = list(range(1, upload["part_count"] + 1))
    urls = await api.call("POST", f"/uploads/{upload['id']}/part-urls", {"part_numbers": numbers})

    async def put(item: dict[str, Any]) -> None:
        async with limit:
            n = item["part_number"]
            async with api.http.put(item["url"], data=data[(n - 1) * part_size : n * part_size]) as response:
                if response.status != 200:
                    raise RuntimeError(f"part {n}: {response.status}")

    await asyncio.gather(*(put(item) for item in urls["items"]))
    await api.call("POST", f"/uploads/{upload['id']}/complete")
    seconds = time.perf_counter() - started
    await api.call("DELETE", f"/objects/{upload['id']}", expect=204)
    return len(data) / seconds / 1e6


async def multipart(api: Api, s3: Any, bucket: str, size_mib: int, rounds: int) -> dict[str, Any]:
    data = os.urandom(size_mib * MIB)
    digest = hashlib.sha256(data).hexdigest()
    part_size, concurrency = 16 * MIB, 4
    direct, service = [], []
    await direct_multipart(s3, bucket, data[: 16 * MIB], part_size, concurrency)  # warm both paths once
    await service_multipart(api, data[: 16 * MIB], hashlib.sha256(data[: 16 * MIB]).hexdigest(), part_size, concurrency)
    for n in range(rounds):  # alternate which goes first, so neither always gets a warmer server
        if n % 2 == 0:
            direct.append(await direct_multipart(s3, bucket, data, part_size, concurrency))
            service.append(await service_multipart(api, data, digest, part_size, concurrency))
        else:
            service.append(await service_multipart(api, data, digest, part_size, concurrency))
            direct.append(await direct_multipart(s3, bucket, data, part_size, concurrency))
    direct_mbps, service_mbps = statistics.median(direct), statistics.median(service)
    return {
        "size_mib": size_mib,
        "part_size_mib": part_size // MIB,
        "concurrency": concurrency,
        "rounds": rounds,
        "direct_aiobotocore_mb_s": round(direct_mbps, 1),
        "presigned_via_service_mb_s": round(service_mbps, 1),
        "ratio_to_direct": round(service_mbps / direct_mbps, 3),
        "target_ratio": 0.8,
    }


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"storage not ready:\n{log.read_text()[-3000:]}")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    env = infra_env()
    bucket = f"storage-bench-{uuid.uuid4().hex[:8]}"
    async with temporary_database(LOCAL_ADMIN_DSN, prefix="storage_bench") as database_url, s3_client(env) as s3:
        await s3.create_bucket(Bucket=bucket)
        service_env = {
            **os.environ,
            **env,
            "DATABASE_URL": database_url,
            "STORAGE_BUCKET": bucket,
            "STORAGE_DEFAULT_QUOTA_BYTES": str(1024**4),
            "STORAGE_MAX_UPLOAD_BYTES": str(1024**4),
            "STORAGE_HOUSEKEEPING_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "PORT": str(free_port()),
        }
        subprocess.run([sys.executable, "-m", "storage", "migrate"], env=service_env, check=True, capture_output=True)
        log = Path(tempfile.mkdtemp(prefix="storage-bench-")) / "storage.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "storage", "serve"], env=service_env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{service_env['PORT']}"
            wait_ready(f"{base}/readyz", process, log)
            async with aiohttp.ClientSession() as http:
                api = Api(http, f"{base}/api/storage/v1")
                result = {
                    "overhead_ms": {
                        **await overhead(api, s3, bucket, args.iterations),
                        "pg_commit_p50": await commit_floor(database_url, args.iterations),
                    },
                    "multipart": await multipart(api, s3, bucket, args.size_mib, args.rounds),
                }
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
            async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": item["Key"]} for item in page.get("Contents") or []]
                if keys:
                    await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            await s3.delete_bucket(Bucket=bucket)
    result["overhead_ms"]["meets_target"] = result["overhead_ms"]["p50"] <= 10.0
    result["multipart"]["meets_target"] = result["multipart"]["ratio_to_direct"] >= 0.8
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300, help="create+complete round trips")
    parser.add_argument("--size-mib", type=int, default=100, help="multipart object size")
    parser.add_argument("--rounds", type=int, default=5, help="multipart uploads of each kind (median reported)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
