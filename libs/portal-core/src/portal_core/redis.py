"""The one way to get a Redis client."""

from __future__ import annotations

from redis.asyncio import Redis

from portal_core.settings import Secret


def create_redis(host: str, port: int, password: Secret | None = None, *, db: int = 0) -> Redis:
    """An asyncio Redis client with a bounded pool and short timeouts (callers treat Redis as fast)."""
    return Redis(
        host=host,
        port=port,
        db=db,
        password=password.reveal() if password else None,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        max_connections=200,
        decode_responses=False,
    )
