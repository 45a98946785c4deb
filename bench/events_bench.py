"""Event pipeline benchmark on real PostgreSQL and NATS: raw JetStream publish vs outbox -> relay -> consumer.

`uv run python bench/events_bench.py` prints one JSON summary:
  raw_publish_per_s        nats-py publish_async of N messages, all acks awaited (baseline)
  pipeline_per_s           producers commit 100 events per transaction; timed from the first commit until the
                           consumer's rows are all committed (a count of its table)
                           (--handler event: one INSERT per event; --handler batch: one per fetched batch)
  pipeline_ratio_to_raw    pipeline_per_s / raw_publish_per_s (same run, same machine)
  latency_ms               p50/p99 of consumer handle time - event time at a fixed 1,000 events/s, 1 per transaction

`--consumer process` (the default) runs the consumer in a process of its own, as in production where it is
another service; `--consumer inline` runs it in the producers' and relay's process (one core for all three).
Both processes run as a service's processes do: on uvloop (portal_core.server.run_worker), with the
OpenTelemetry SDK installed, so spans are recorded as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec
from nats.js import JetStreamContext
from portal_contracts import EventData, event
from portal_core.server import run_worker
from portal_core.settings import ServiceSettings, load_settings
from portal_core.telemetry import setup_telemetry
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def handlers(applied: Applied, kind: str) -> dict[str, object]:
    """The consumer's handler for `--handler kind`, counting what it applied (and latencies while measuring)."""

    def record(events: Sequence[ReceivedEvent]) -> None:
        if applied.measuring_latency:
            now = datetime.now(UTC)
            applied.latencies.extend((now - e.time).total_seconds() for e in events)
        applied.count += len(events)
        if applied.count >= applied.target:
            applied.done.set()

    async def handle(conn: Connection, received: ReceivedEvent) -> None:
        data = received.data
        assert isinstance(data, BenchEvent)
        await conn.execute(f"INSERT INTO {SCHEMA}.orders VALUES ($1, $2)", data.order_id, data.amount)
        record([received])

    async def handle_batch(conn: Connection, events: Sequence[ReceivedEvent]) -> None:
        # What a throughput-bound consumer does (audit ingest): one multi-row statement per batch.
        rows = [e.data for e in events if isinstance(e.data, BenchEvent)]
        await conn.execute(
            f"INSERT INTO {SCHEMA}.orders SELECT * FROM unnest($1::text[], $2::int[])",
            [r.order_id for r in rows],
            [r.amount for r in rows],
        )
        record(events)

    return {"handler": handle} if kind == "event" else {"batch_handler": handle_batch}


@dataclass(frozen=True)
class ConsumerSetup:
    """All a consumer needs, also handed to the consumer process as JSON."""

    dsn: str
    nats_url: str
    service: str
    stream: str
    subject: str
    deadletter_stream: str
    deadletter_prefix: str
    handler: str
    batch_size: int

    def consumer(self, js: JetStreamContext, pool: asyncpg.Pool, applied: Applied) -> EventConsumer:
        topology = Topology(deadletter_stream=self.deadletter_stream, deadletter_subject_prefix=self.deadletter_prefix)
        return EventConsumer(
            js, pool, schema=SCHEMA, durable_name=f"{self.service}_bench", stream=self.stream, subjects=[self.subject],
            batch_size=self.batch_size, topology=topology, **handlers(applied, self.handler),  # type: ignore[arg-type]
        )  # fmt: skip


class InlineConsumer:
    """The consumer in the bench's own process."""

    def __init__(self, setup: ConsumerSetup, js: JetStreamContext, pool: asyncpg.Pool) -> None:
        self._applied = Applied()
        self._consumer = setup.consumer(js, pool, self._applied)

    async def start(self) -> None:
        await self._consumer.start()

    async def measure_latency(self) -> None:
        self._applied.measuring_latency = True

    async def handled(self, target: int, timeout: float) -> list[float]:
        """Wait until the handler has run for `target` events; return the latencies recorded so far."""
        await wait_handled(self._applied, target, timeout)
        return self._applied.latencies

    async def stop(self) -> None:
        await self._consumer.stop()


class ProcessConsumer:
    """The consumer in a process of its own (`events_bench.py consume SETUP`), driven by lines on its stdin."""

    def __init__(self, setup: ConsumerSetup) -> None:
        self._setup = setup
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "consume", json.dumps(self._setup.__dict__),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 24,  # the latencies come as one JSON line
        )  # fmt: skip
        if await self._ask(None) != "ready":
            raise RuntimeError("consumer process did not start")

    async def measure_latency(self) -> None:
        await self._ask("measure")

    async def handled(self, target: int, timeout: float) -> list[float]:
        answer = await asyncio.wait_for(self._ask(f"wait {target}"), timeout)
        latencies: list[float] = json.loads(answer)
        return latencies

    async def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ask("stop"), 30)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()

    async def _ask(self, line: str | None) -> str:
        assert self._process is not None
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        if line is not None:
            self._process.stdin.write(f"{line}\n".encode())
            await self._process.stdin.drain()
        answer = await self._process.stdout.readline()
        if not answer:
            raise RuntimeError("consumer process exited")
        return answer.decode().strip()


def install_telemetry(service: str) -> None:
    """The OpenTelemetry SDK as every service installs it (spans recorded, metrics kept; no OTLP endpoint)."""
    setup_telemetry(service, load_settings(ServiceSettings, {"LOG_LEVEL": "WARNING"}))


async def consume(setup: ConsumerSetup) -> None:
    """The consumer process: answers `measure`, `wait N` (the latencies once N were handled) and `stop`."""
    install_telemetry("events-bench-consumer")
    event(setup.subject, description="benchmark event")(BenchEvent)
    pool = await create_pool(setup.dsn, min_size=2, max_size=4, name="bench-consumer")
    nc = await connect_nats(setup.nats_url, "events-bench-consumer")
    applied = Applied()
    consumer = setup.consumer(nc.jetstream(), pool, applied)
    await consumer.start()
    print("ready", flush=True)
    try:
        while line := (await asyncio.to_thread(sys.stdin.readline)).split():
            if line[0] == "measure":
                applied.measuring_latency = True
                print("ok", flush=True)
            elif line[0] == "wait":
                await wait_handled(applied, int(line[1]), timeout=120)
                print(json.dumps(applied.latencies), flush=True)
            else:
                break
    finally:
        await consumer.stop()
        print("stopped", flush=True)
        await nc.drain()
        await pool.close()


async def wait_handled(applied: Applied, target: int, timeout: float) -> None:
    applied.target = target
    if applied.count >= target:
        return
    applied.done.clear()
    await asyncio.wait_for(applied.done.wait(), timeout)


async def wait_committed(pool: asyncpg.Pool, target: int) -> None:
    """The handler ran for all of them; wait until their rows are committed (the consumer's last transaction)."""
    while await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.orders") < target:
        await asyncio.sleep(0.002)


async def run(args: argparse.Namespace) -> dict[str, object]:
    install_telemetry("events-bench")
    async with temporary_database(LOCAL_ADMIN_DSN, prefix="portal_events_bench") as dsn:
        pool = await create_pool(dsn, min_size=4, max_size=12, name="bench")
        nc = await connect_nats(args.nats_url, "events-bench")
        js = nc.jetstream()
        service = f"bench{uuid.uuid4().hex[:8]}"
        subject = f"portal.{service}.order.placed.v1"
        event(subject, description="benchmark event")(BenchEvent)
        stream = await ensure_service_stream(js, service)
        setup = ConsumerSetup(
            dsn=dsn, nats_url=args.nats_url, service=service, stream=stream, subject=subject,
            deadletter_stream=f"BENCH_DL_{service.upper()}", deadletter_prefix=f"bench.dl.{service}",
            handler=args.handler, batch_size=args.consumer_batch,
        )  # fmt: skip
        async with pool.acquire() as conn:
            await migrate_event_tables(conn, SCHEMA)
            await conn.execute(f"CREATE TABLE {SCHEMA}.orders (order_id text PRIMARY KEY, amount int NOT NULL)")
        relay = OutboxRelay(pool, js, SCHEMA)
        consumer = ProcessConsumer(setup) if args.consumer == "process" else InlineConsumer(setup, js, pool)
        try:
            raw_rate = await raw_publish_rate(js, args.raw_count)
            relay.start()
            await consumer.start()

            started = time.perf_counter()
            await produce_batches(pool, args.pipeline_count, per_transaction=100, producers=args.producers)
            produced_at = time.perf_counter()
            await consumer.handled(args.pipeline_count, timeout=60)
            await wait_committed(pool, args.pipeline_count)
            pipeline_seconds = time.perf_counter() - started
            pipeline_rate = args.pipeline_count / pipeline_seconds

            await asyncio.sleep(0.5)
            await consumer.measure_latency()
            sent = await produce_at_rate(pool, args.latency_rate, args.latency_seconds, first=args.pipeline_count)
            latencies_ms = [s * 1000 for s in await consumer.handled(args.pipeline_count + sent, timeout=30)]
        finally:
            for cleanup in (consumer.stop, relay.stop):
                with contextlib.suppress(Exception):
                    await cleanup()
            for name in (stream, setup.deadletter_stream):
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
            await nc.drain()
            await pool.close()

    return {
        "consumer_handler": args.handler,
        "consumer": args.consumer,
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
    parser.add_argument(
        "--consumer",
        choices=("process", "inline"),
        default="process",
        help="run the consumer in its own process (as deployed) or in the producers' process",
    )
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    if sys.argv[1:2] == ["consume"]:
        run_worker(consume(ConsumerSetup(**json.loads(sys.argv[2]))))
        return
    summary = run_worker(run(parser.parse_args()))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
