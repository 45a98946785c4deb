"""The one way to get a Redis client."""

from __future__ import annotations

from redis.asyncio import Redis

from portal_core.settings import Secret


def create_redis(
    host: str, port: int, password: Secret | None = None, *, db: int = 0, timeout_seconds: float = 2.0
) -> Redis:
    """An asyncio Redis client with a bounded pool and short timeouts (callers treat Redis as fast).

    A hot path that must not wait on a sick Redis (the gateway's rate limit) passes a shorter timeout.
    """
    return Redis(
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
