"""Metrics of the database layer: pool gauges and the duration of the operations the libs run."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import asyncpg
from opentelemetry.metrics import CallbackOptions, Observation
from portal_core.telemetry import meter

_meter = meter("portal.db")
_duration = _meter.create_histogram(
    "db.operation.duration", unit="s", description="Duration of queries and transactions run by the portal libs"
)
# asyncpg pools take no weak references: closed pools are dropped instead, on each observation.
_pools: dict[int, tuple[asyncpg.Pool, str]] = {}


def _open_pools() -> list[tuple[asyncpg.Pool, str]]:
    for key, (pool, _) in list(_pools.items()):
        if pool.is_closing():
            del _pools[key]
    return list(_pools.values())


def _observe_size(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(pool.get_size(), {"pool": name}) for pool, name in _open_pools()]


def _observe_in_use(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(pool.get_size() - pool.get_idle_size(), {"pool": name}) for pool, name in _open_pools()]


_meter.create_observable_gauge("db.pool.size", [_observe_size], description="Open connections in the pool")
_meter.create_observable_gauge("db.pool.in_use", [_observe_in_use], description="Connections checked out")


def watch_pool(pool: asyncpg.Pool, name: str) -> None:
    """Report `pool` in the db.pool.* gauges until it is closed."""
    _open_pools()
    _pools[id(pool)] = (pool, name)


@contextmanager
def timed(operation: str) -> Iterator[None]:
    """Record the duration of the enclosed block in db.operation.duration under `operation`."""
    start = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException:
        outcome = "error"
        raise
    finally:
        _duration.record(time.perf_counter() - start, {"db.operation": operation, "outcome": outcome})
