"""The one way to get a Redis client: bounded pool, short timeouts, and every command measured."""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from portal_core.settings import Secret
from portal_core.telemetry import meter

_meter = meter("portal.redis")
# Its count is the command count: one measurement per command (the gateway sends one per request).
_duration = _meter.create_histogram(
    "redis.command.duration", unit="s", description="Redis commands sent, by command, outcome and round trip"
)


class MeasuredRedis(Redis):
    """A Redis client that times each command (one histogram point, no span: the gateway calls Redis on
    every request and cannot pay for a span there)."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        command = str(args[0]).upper() if args else "UNKNOWN"
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            outcome = "ok"
            return result
        finally:
            _duration.record(time.perf_counter() - started, {"db.operation": command, "outcome": outcome})


def create_redis(
    host: str, port: int, password: Secret | None = None, *, db: int = 0, timeout_seconds: float = 2.0
) -> Redis:
    """An asyncio Redis client with a bounded pool and short timeouts (callers treat Redis as fast).

    A hot path that must not wait on a sick Redis (the gateway's rate limit) passes a shorter timeout.
    """
    return MeasuredRedis(
        host=host,
        port=port,
        db=db,
        password=password.reveal() if password else None,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
        max_connections=200,
        decode_responses=False,
    )
