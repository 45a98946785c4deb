"""How fast this machine is today, so figures from `make bench` runs on different machines can be compared.

    uv run python bench/machine_bench.py

The issues' budgets are absolute (events per second, milliseconds added), and the machines these runs land
on differ by several times in plain CPU speed and in the cost of a PostgreSQL commit. Each `make bench`
starts with this probe; docs/performance.md quotes it beside the figures. Prints one JSON summary:

  python_loop_ms         best of 5: a fixed pure-Python loop (10 M additions), the CPython interpreter's speed
  postgres_select_ms     p50 of 2,000 `SELECT 1` round trips over asyncpg on loopback
  postgres_commit_ms     p50 of 500 single-row INSERT + COMMIT, synchronous (a WAL flush each)
  postgres_commit_async_ms  the same with synchronous_commit off for the transaction (no flush wait)
  redis_roundtrip_ms     p50 of 2,000 PINGs over redis-py's asyncio client
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from portal_db.testing import temporary_database
from redis.asyncio import Redis


def python_loop_ms() -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for n in range(10_000_000):
            total += n
        best = min(best, time.perf_counter() - started)
    return best * 1000


async def p50_ms(operation: Callable[[], Awaitable[object]], count: int) -> float:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        await operation()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


async def postgres(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE probe (id uuid PRIMARY KEY)")

        async def commit(synchronous: bool) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO probe SELECT $1 FROM (SELECT set_config('synchronous_commit', $2, true)) AS s",
                    uuid.uuid4(),
                    "on" if synchronous else "off",
                )

        return {
            "postgres_select_ms": await p50_ms(lambda: conn.fetchval("SELECT 1"), 2_000),
            "postgres_commit_ms": await p50_ms(lambda: commit(True), 500),
            "postgres_commit_async_ms": await p50_ms(lambda: commit(False), 500),
        }
    finally:
        await conn.close()


async def redis_roundtrip_ms(url: str) -> float:
    client = Redis.from_url(url)
    try:
        return await p50_ms(client.ping, 2_000)
    finally:
        await client.aclose()


async def run() -> dict[str, float]:
    async with temporary_database(prefix="machine_bench") as dsn:
        figures = await postgres(dsn)
    figures["redis_roundtrip_ms"] = await redis_roundtrip_ms(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    figures["python_loop_ms"] = python_loop_ms()
    return {name: round(value, 3) for name, value in figures.items()}


def main() -> None:
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
