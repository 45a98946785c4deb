"""Audit benchmark on real PostgreSQL and NATS: ingest rate, newest-page latency, streaming export memory.

`uv run python bench/audit_bench.py` prints one JSON summary:
  ingest.audit_per_s              events pre-published to a stream, then ingested by `python -m audit ingest`
                                  (decode, redact, hash chain, COPY, inbox, signed checkpoints, acks), measured
                                  from its first recorded batch to the last event (start-up excluded)
  ingest.plain_insert_per_s       the same rows (hashes precomputed) by plain batched INSERT (baseline)
  ingest.ratio_to_plain_insert    audit_per_s / plain_insert_per_s (same run, same machine)
  query.newest_page_ms            p50/p99 of GET /records?limit=50 over HTTP for a tenant with --query-records rows
  query.filtered_page_ms          the same with an actor filter
  export.rows_per_s, export.server_rss_mb  NDJSON export of --export-records rows; RSS of the server before/peak
Targets (issue 4): ingest >= 5,000 events/s; newest page p99 <= 50 ms over 1,000,000 records; flat export RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from audit.chain import service as chain
from audit.chain.hashing import RecordContent
from audit.chain.signing import HeadSigner
from audit.settings import DEV_CHECKPOINT_SIGNING_KEY
from nats.js import JetStreamContext
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from portal_core.testing import free_port
from portal_db import create_pool
from portal_db.testing import LOCAL_ADMIN_DSN, temporary_database
from portal_events import connect_nats, ensure_stream

ROOT = Path(__file__).resolve().parents[1]
TENANTS = [f"bench-tenant-{n}" for n in range(10)]
SIGNER = HeadSigner(DEV_CHECKPOINT_SIGNING_KEY)
BODY = b'{"object_id": "0190", "path": "reports/2026/q1.pdf", "size": 18234, "content_type": "application/pdf"}'


def migrate(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "audit", "migrate"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)


def headers_for(subject: str, n: int) -> dict[str, str]:
    event_id = str(uuid.uuid4())
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": subject,
        "ce-source": "/portal/bench",
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "ce-tenant": TENANTS[n % len(TENANTS)],
        "ce-subject": f"object-{n}",
        "ce-actor": f"user-{n % 50}",
        "ce-clientip": "198.51.100.4",
        "ce-useragent": "bench/1.0",
        "traceparent": f"00-{uuid.uuid4().hex}-{'1' * 16}-01",
        "Nats-Msg-Id": event_id,
    }


async def publish_all(js: JetStreamContext, subject: str, count: int) -> None:
    for start in range(0, count, 1000):
        acks = [
            await js.publish_async(subject, BODY, headers=headers_for(subject, n))
            for n in range(start, min(count, start + 1000))
        ]
        await asyncio.gather(*acks)


async def count_records(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM audit.records"))


async def first_records(pool: asyncpg.Pool) -> tuple[int, float]:
    """Wait out process start-up: the rate is measured from the first recorded batch on (sustained rate)."""
    while (seen := await count_records(pool)) == 0:
        await asyncio.sleep(0.02)
    return seen, time.perf_counter()


async def bench_ingest(database_url: str, nats_url: str, count: int, batch: int, processes: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    prefix, service = f"ABENCH{suffix.upper()}", f"abench{suffix}"
    stream = f"{prefix}_SVC"
    nc = await connect_nats(nats_url, "audit-bench")
    js = nc.jetstream()
    pool = await create_pool(database_url, name="audit-bench", max_size=8)
    await ensure_stream(js, stream, [f"portal.{service}.>"], duplicate_window=120)
    try:
        await publish_all(js, f"portal.{service}.object.created.v1", count)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "AUDIT_STREAM_PREFIX": prefix,
            "AUDIT_DEADLETTER_STREAM": f"{prefix}DL",
            "AUDIT_DEADLETTER_SUBJECT_PREFIX": f"portal.dl-{service}",
            "AUDIT_CONSUMER_PREFIX": f"bench{suffix}",
            "AUDIT_BATCH_SIZE": str(batch),
            "AUDIT_DISCOVERY_INTERVAL_SECONDS": "0.2",
            "LOG_LEVEL": "WARNING",
        }
        # The real `python -m audit ingest` (telemetry on, as deployed); replicas share the durable consumers.
        workers = [
            subprocess.Popen([sys.executable, "-m", "audit", "ingest"], env=env, stdout=subprocess.DEVNULL)
            for _ in range(processes)
        ]
        try:
            first, started = await first_records(pool)
            while (done := await count_records(pool)) < count:
                await asyncio.sleep(0.05)
            audit_seconds = time.perf_counter() - started
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
        plain_seconds = await plain_insert_baseline(pool, batch)
    finally:
        for name in (stream, f"{prefix}DL"):
            with contextlib.suppress(Exception):  # best-effort cleanup on the shared server
                await js.delete_stream(name)
        await nc.close()
        await pool.close()
    audit_rate, plain_rate = (done - first) / audit_seconds, count / plain_seconds
    return {
        "events": count,
        "batch_size": batch,
        "ingest_processes": processes,
        "audit_per_s": round(audit_rate),
        "plain_insert_per_s": round(plain_rate),
        "ratio_to_plain_insert": round(audit_rate / plain_rate, 3),
        "meets_5000_per_s": audit_rate >= 5000,
    }


async def plain_insert_baseline(pool: asyncpg.Pool, batch: int) -> float:
    """The rows ingest just wrote, re-inserted by plain multi-row INSERTs of `batch` rows into a twin table."""
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE audit.records_baseline (LIKE audit.records INCLUDING ALL)")
        rows = await conn.fetch("SELECT * FROM audit.records ORDER BY received_at, seq")
    columns = list(rows[0].keys())
    tuples = [tuple(row[c] for c in columns) for row in rows]
    placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
    insert = f"INSERT INTO audit.records_baseline ({', '.join(columns)}) VALUES ({placeholders})"
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for start in range(0, len(tuples), batch):
            async with conn.transaction():
                await conn.executemany(insert, tuples[start : start + batch])
    return time.perf_counter() - started


async def seed(pool: asyncpg.Pool, tenant: str, count: int) -> None:
    """`count` chained records for `tenant` (plus 10% for a neighbour), 10,000 per transaction."""
    base = datetime.now(UTC) - timedelta(days=30)
    for start in range(0, count, 10_000):
        contents = []
        for n in range(start, min(count, start + 10_000)):
            moment = base + timedelta(milliseconds=n)
            contents.append(
                RecordContent(
                    id=str(uuid.uuid4()),
                    tenant_id=tenant if n % 10 else f"{tenant}-neighbour",
                    action="portal.storage.object.created.v1",
                    actor_id=f"user-{n % 500}",
                    target_type="storage.object",
                    target_id=f"object-{n}",
                    outcome="success",
                    client_ip="198.51.100.4",
                    user_agent="bench/1.0",
                    trace_id=uuid.uuid4().hex,
                    request_id=None,
                    source="/portal/storage",
                    occurred_at=moment,
                    received_at=moment,
                    body=BODY.decode(),
                )
            )
        async with pool.acquire() as conn, conn.transaction():
            await chain.append(conn, contents, SIGNER)
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE audit.records")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def timed_gets(client: httpx.AsyncClient, params: dict[str, Any], headers: dict[str, str], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get("/api/audit/v1/records", params=params, headers=headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return samples


async def bench_query_and_export(
    database_url: str, query_records: int, export_records: int, queries: int
) -> dict[str, Any]:
    tenant = "bench-query-tenant"
    pool = await create_pool(database_url, name="audit-bench-seed", max_size=2)
    try:
        await seed(pool, tenant, max(query_records, export_records))
        kept = int(await pool.fetchval("SELECT count(*) FROM audit.records WHERE tenant_id = $1", tenant))
    finally:
        await pool.close()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "audit", "serve"], env=env, stdout=subprocess.DEVNULL)
    signer = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK, ttl_seconds=3600)
    headers = {"x-portal-identity": signer.mint(Identity(tenant_id=tenant, user_id="u", roles=("admin",)), "audit")}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            await wait_ready(client)
            await timed_gets(client, {"limit": 50}, headers, 20)  # warm the statement cache and buffers
            newest = await timed_gets(client, {"limit": 50}, headers, queries)
            filtered = await timed_gets(client, {"limit": 50, "actor_id": "user-7"}, headers, queries)
            export = await measure_export(client, headers, psutil.Process(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "query": {
            "tenant_records": kept,
            "queries": queries,
            "newest_page_ms": {"p50": percentile(newest, 0.5), "p99": percentile(newest, 0.99)},
            "filtered_page_ms": {"p50": percentile(filtered, 0.5), "p99": percentile(filtered, 0.99)},
            "meets_p99_50ms": percentile(newest, 0.99) <= 50,
        },
        "export": export,
    }


async def wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("audit serve did not become ready")


async def measure_export(client: httpx.AsyncClient, headers: dict[str, str], server: psutil.Process) -> dict[str, Any]:
    rss_before = server.memory_info().rss
    peak = rss_before
    rows = 0
    started = time.perf_counter()
    params = {"format": "ndjson"}
    async with client.stream("GET", "/api/audit/v1/exports/records", params=params, headers=headers) as response:
        async for chunk in response.aiter_bytes():
            rows += chunk.count(b"\n")
            peak = max(peak, server.memory_info().rss)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "server_rss_mb": {"before": round(rss_before / 2**20, 1), "peak": round(peak / 2**20, 1)},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with temporary_database(LOCAL_ADMIN_DSN, prefix="audit_bench") as database_url:
        migrate(database_url)
        ingest = await bench_ingest(database_url, args.nats_url, args.ingest_count, args.batch, args.ingest_processes)
        rest = await bench_query_and_export(database_url, args.query_records, args.export_records, args.queries)
    return {"benchmark": "audit", "ingest": ingest, **rest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--ingest-count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--ingest-processes", type=int, default=2)  # replicas, as deployed: one core each
    parser.add_argument("--query-records", type=int, default=1_000_000)
    parser.add_argument("--export-records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    summary = asyncio.run(run(parser.parse_args()))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
