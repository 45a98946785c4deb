"""The shared Redis client against the real Redis: commands are timed (and so counted) by name and outcome."""

from __future__ import annotations

import uuid

import pytest
from portal_core.redis import create_redis
from portal_core.test_infra import redis_address
from portal_core.testing import install_test_telemetry
from redis.exceptions import ResponseError

pytestmark = pytest.mark.integration


async def test_commands_are_counted_by_name_and_outcome() -> None:
    telemetry = install_test_telemetry()
    redis = create_redis(*redis_address())
    key = f"portal-core-test:{uuid.uuid4().hex}"
    sets_before = telemetry.histogram_count("redis.command.duration", **{"db.operation": "SET", "outcome": "ok"})
    errors_before = telemetry.histogram_count("redis.command.duration", **{"db.operation": "LPUSH", "outcome": "error"})
    try:
        await redis.set(key, b"not a number", ex=30)
        assert await redis.get(key) == b"not a number"
        with pytest.raises(ResponseError):
            await redis.lpush(key, b"x")
    finally:
        await redis.delete(key)
        await redis.aclose()
    assert (
        telemetry.histogram_count("redis.command.duration", **{"db.operation": "SET", "outcome": "ok"})
        == sets_before + 1
    )
    assert (
        telemetry.histogram_count("redis.command.duration", **{"db.operation": "LPUSH", "outcome": "error"})
        == errors_before + 1
    )
