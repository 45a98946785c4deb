"""Event pipeline benchmark on real PostgreSQL and NATS: raw JetStream publish vs outbox -> relay -> consumer.

`uv run python bench/events_bench.py` prints one JSON summary:
  raw_publish_per_s        nats-py publish_async of N messages, all acks awaited (baseline)
  pipeline_per_s           producers commit 100 events per transaction; timed until the consumer applied all
                           (--handler event: one INSERT per event; --handler batch: one per fetched batch)
  pipeline_ratio_to_raw    pipeline_per_s / raw_publish_per_s (same run, same machine)
  latency_ms               p50/p99 of consumer handle time - event time at a fixed 1,000 events/s, 1 per transaction
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec
from nats.js import JetStreamContext
from portal_contracts import EventData, event
from portal_db import Connection, create_pool
from portal_db.testing import LOCAL_ADMIN_DSN, temporary_database
from portal_events import (
    EventConsumer,
    OutboxRelay,
    ReceivedEvent,
    Topology,
    connect_nats,
    ensure_service_stream,
    ensure_stream,
    migrate_event_tables,
    publish,
)

SCHEMA = "bench"


class BenchEvent(EventData, kw_only=True, frozen=True):
    order_id: str
    tenant: str
    amount: int
    note: str


@dataclass
class Applied:
    count: int = 0
    latencies: list[float] = field(default_factory=list)
    measuring_latency: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    target: int = 0


def sample(n: int) -> BenchEvent:
    return BenchEvent(order_id=f"order-{n}", tenant="tenant-1", amount=n, note="x" * 80)


async def raw_publish_rate(js: JetStreamContext, count: int) -> float:
    suffix = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_RAW_{suffix.upper()}", f"bench.{suffix}.raw"
    await ensure_stream(js, stream, [subject], duplicate_window=120)
    payload = msgspec.json.encode(sample(0))
    try:
        started = time.perf_counter()
        futures = [
            await js.publish_async(subject, payload, headers={"Nats-Msg-Id": str(uuid.uuid4()), "ce-type": subject})
            for _ in range(count)
        ]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await js.delete_stream(stream)


async def produce_batches(pool: asyncpg.Pool, total: int, per_transaction: int, producers: int) -> None:
    async def producer(worker: int) -> None:
        for start in range(worker * per_transaction, total, per_transaction * producers):
            async with pool.acquire() as conn, conn.transaction():
                for n in range(start, min(start + per_transaction, total)):
                    await publish(conn, sample(n), schema=SCHEMA)

    await asyncio.gather(*(producer(w) for w in range(producers)))


async def produce_at_rate(pool: asyncpg.Pool, rate: float, seconds: float, first: int) -> int:
    total = int(rate * seconds)
    started = time.perf_counter()
    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        async with pool.acquire() as conn, conn.transaction():
            await publish(conn, sample(first + n), schema=SCHEMA)
    return total


async def wait_applied(applied: Applied, target: int, timeout: float) -> None:
    applied.target = target
    if applied.count >= target:
        return
    applied.done.clear()
    await asyncio.wait_for(applied.done.wait(), timeout)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    async with temporary_database(LOCAL_ADMIN_DSN, prefix="portal_events_bench") as dsn:
        pool = await create_pool(dsn, min_size=4, max_size=12, name="bench")
        nc = await connect_nats(args.nats_url, "events-bench")
        js = nc.jetstream()
        service = f"bench{uuid.uuid4().hex[:8]}"
        subject = f"portal.{service}.order.placed.v1"
        event(subject, description="benchmark event")(BenchEvent)
        stream = await ensure_service_stream(js, service)
        dl_stream, dl_prefix = f"BENCH_DL_{service.upper()}", f"bench.dl.{service}"
        topology = Topology(deadletter_stream=dl_stream, deadletter_subject_prefix=dl_prefix)
        async with pool.acquire() as conn:
            await migrate_event_tables(conn, SCHEMA)
            await conn.execute(f"CREATE TABLE {SCHEMA}.orders (order_id text PRIMARY KEY, amount int NOT NULL)")
        applied = Applied()

        async def handle(conn: Connection, received: ReceivedEvent) -> None:
            data = received.data
            assert isinstance(data, BenchEvent)
            await conn.execute(f"INSERT INTO {SCHEMA}.orders VALUES ($1, $2)", data.order_id, data.amount)
            if applied.measuring_latency:
                applied.latencies.append((datetime.now(UTC) - received.time).total_seconds())
            applied.count += 1
            if applied.count >= applied.target:
                applied.done.set()

        async def handle_batch(conn: Connection, events: Sequence[ReceivedEvent]) -> None:
            # What a throughput-bound consumer does (audit ingest): one multi-row statement per batch.
            rows = [e.data for e in events if isinstance(e.data, BenchEvent)]
            await conn.execute(
                f"INSERT INTO {SCHEMA}.orders SELECT * FROM unnest($1::text[], $2::int[])",
                [r.order_id for r in rows],
                [r.amount for r in rows],
            )
            if applied.measuring_latency:
                now = datetime.now(UTC)
                applied.latencies.extend((now - e.time).total_seconds() for e in events)
            applied.count += len(events)
            if applied.count >= applied.target:
                applied.done.set()

        relay = OutboxRelay(pool, js, SCHEMA)
        handlers = {"handler": handle} if args.handler == "event" else {"batch_handler": handle_batch}
        consumer = EventConsumer(
            js, pool, schema=SCHEMA, durable_name=f"{service}_bench", stream=stream, subjects=[subject],
            batch_size=args.consumer_batch, topology=topology, **handlers,  # type: ignore[arg-type]
        )  # fmt: skip
        try:
            raw_rate = await raw_publish_rate(js, args.raw_count)
            relay.start()
            await consumer.start()

            started = time.perf_counter()
            await produce_batches(pool, args.pipeline_count, per_transaction=100, producers=args.producers)
            produced_at = time.perf_counter()
            await wait_applied(applied, args.pipeline_count, timeout=60)
            pipeline_seconds = time.perf_counter() - started
            pipeline_rate = args.pipeline_count / pipeline_seconds

            await asyncio.sleep(0.5)
            applied.measuring_latency = True
            sent = await produce_at_rate(pool, args.latency_rate, args.latency_seconds, first=args.pipeline_count)
            await wait_applied(applied, args.pipeline_count + sent, timeout=30)
            latencies_ms = [s * 1000 for s in applied.latencies]
        finally:
            for cleanup in (consumer.stop, relay.stop):
                with contextlib.suppress(Exception):
                    await cleanup()
            for name in (stream, topology.deadletter_stream):
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
            await nc.drain()
            await pool.close()

    return {
        "consumer_handler": args.handler,
        "raw_publish_per_s": round(raw_rate),
        "pipeline_events": args.pipeline_count,
        "pipeline_produce_per_s": round(args.pipeline_count / (produced_at - started)),
        "pipeline_per_s": round(pipeline_rate),
        "pipeline_ratio_to_raw": round(pipeline_rate / raw_rate, 3),
        "pipeline_target_per_s": 5000,
        "latency_rate_per_s": args.latency_rate,
        "latency_events": len(latencies_ms),
        "latency_ms": {
            "p50": round(statistics.median(latencies_ms), 2),
            "p99": round(percentile(latencies_ms, 0.99), 2),
            "max": round(max(latencies_ms), 2),
        },
        "latency_target_p99_ms": 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--raw-count", type=int, default=20_000)
    parser.add_argument("--pipeline-count", type=int, default=30_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--consumer-batch", type=int, default=200)
    parser.add_argument(
        "--handler",
        choices=("event", "batch"),
        default="event",
        help="consumer handler: one call per event or per batch",
    )
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    summary = asyncio.run(run(parser.parse_args()))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
