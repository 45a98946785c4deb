"""The shared GCRA rate limiter against the real Redis: bursts, refill, all-or-nothing, debt, batching, failure."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from portal_core.rate_limit import Rate, RateLimiter, Spend
from portal_core.redis import create_redis
from portal_core.test_infra import redis_address
from portal_core.testing import install_test_telemetry, refusing_port
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(*redis_address())
    yield client
    await client.aclose()


@pytest.fixture
def limiter(redis: Redis) -> RateLimiter:
    return RateLimiter(redis, key_prefix=f"rl-test:{uuid.uuid4().hex}:")


async def test_burst_then_refused_with_retry_after(limiter: RateLimiter) -> None:
    rate = Rate(3, 60)  # one unit back every 20 s
    decisions = [await limiter.acquire(Spend("client", rate)) for _ in range(4)]
    assert all(d is not None for d in decisions)
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused is not None
    assert 19 <= refused.retry_after_seconds <= 20
    assert refused.refused == Spend("client", rate)
    assert all(d is not None and 1 <= d.reset_seconds <= 60 for d in decisions)
    other = await limiter.acquire(Spend("another-client", rate))
    assert other is not None
    assert other.allowed


async def test_refills_at_the_rate(limiter: RateLimiter) -> None:
    rate = Rate(2, 0.2)  # one unit back every 100 ms
    assert [(await limiter.acquire(Spend("k", rate))).allowed for _ in range(3)] == [True, True, False]  # type: ignore[union-attr]
    await asyncio.sleep(0.12)
    again = await limiter.acquire(Spend("k", rate))
    assert again is not None
    assert again.allowed


async def test_acquire_is_all_or_nothing(limiter: RateLimiter) -> None:
    roomy, tight = Rate(100, 60), Rate(1, 60)
    first = await limiter.acquire(Spend("roomy", roomy), Spend("tight", tight))
    second = await limiter.acquire(Spend("roomy", roomy), Spend("tight", tight))
    assert first is not None
    assert first.allowed
    assert first.limit == 1
    assert second is not None
    assert not second.allowed
    assert second.refused == Spend("tight", tight)
    # The refused call spent nothing from the roomy key either: 98 left after one more acquire.
    alone = await limiter.acquire(Spend("roomy", roomy))
    assert alone is not None
    assert alone.remaining == 98


async def test_charge_goes_into_debt_and_cost_zero_checks_it(limiter: RateLimiter) -> None:
    tokens = Rate(1000, 60)
    check = await limiter.acquire(Spend("tokens", tokens, cost=0))
    assert check is not None
    assert check.allowed
    assert check.remaining == 1000
    await limiter.charge(Spend("tokens", tokens, cost=1500))  # used more than the whole burst
    after = await limiter.acquire(Spend("tokens", tokens, cost=0))
    assert after is not None
    assert not after.allowed
    assert 29 <= after.retry_after_seconds <= 30  # 500 units of debt at 1000 per minute


async def test_concurrent_checks_go_in_few_calls_and_each_is_counted_once(redis: Redis, limiter: RateLimiter) -> None:
    telemetry = install_test_telemetry()
    before = telemetry.histogram_count("redis.command.duration", **{"db.operation": "EVALSHA", "outcome": "ok"})
    rate = Rate(150, 60)
    decisions = await asyncio.gather(*(limiter.acquire(Spend("shared", rate)) for _ in range(200)))
    calls = telemetry.histogram_count("redis.command.duration", **{"db.operation": "EVALSHA", "outcome": "ok"}) - before
    assert sum(1 for d in decisions if d and d.allowed) == 150  # exactly the burst, no more
    assert sorted(d.remaining for d in decisions if d and d.allowed) == list(range(150))
    assert calls <= 3  # 200 checks, batched (the first goes alone, the rest wait for it)


async def test_many_checks_split_into_bounded_calls(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.acquire(Spend(f"k{n}", Rate(5, 60))) for n in range(600)))
    assert all(d is not None and d.allowed and d.remaining == 4 for d in decisions)


async def test_redis_down_lets_checks_through_and_cools_down() -> None:
    telemetry = install_test_telemetry()
    failures_before = telemetry.metric_total("rate_limit.redis_failures")
    with refusing_port() as port:
        dead = create_redis("127.0.0.1", port, timeout_seconds=0.2)
        limiter = RateLimiter(dead, key_prefix="rl-test-dead:")
        try:
            results = await asyncio.gather(*(limiter.acquire(Spend("k", Rate(1, 60))) for _ in range(5)))
            later = await limiter.acquire(Spend("k", Rate(1, 60)))  # within the cool-down: Redis is not asked
        finally:
            await dead.aclose()
    assert results == [None] * 5
    assert later is None
    assert telemetry.metric_total("rate_limit.redis_failures") == failures_before + 6


async def test_cancelled_waiter_does_not_break_the_batch(limiter: RateLimiter) -> None:
    rate = Rate(10, 60)
    cancelled = asyncio.ensure_future(limiter.acquire(Spend("c", rate)))
    kept = asyncio.ensure_future(limiter.acquire(Spend("c", rate)))
    await asyncio.sleep(0)
    cancelled.cancel()
    decision = await kept
    assert decision is not None
    assert decision.allowed


def test_rate_needs_a_count_and_a_period() -> None:
    with pytest.raises(ValueError, match="count of at least 1"):
        Rate(0, 60)
    with pytest.raises(ValueError, match="count of at least 1"):
        Rate(1, 0)


async def test_a_key_appears_once_per_call(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="each key may appear once"):
        await limiter.charge(Spend("same", Rate(10, 60), 2), Spend("same", Rate(10, 60), 3))


async def _remaining_in_redis(redis: Redis, limiter: RateLimiter, key: str, rate: Rate) -> int:
    """What Redis itself says remains once `limiter` has sent what it owes; spends nothing."""
    await limiter.flush()  # the charges owed for checks admitted from headroom go out now
    return await _remaining_in_redis_now(redis, limiter._prefix, key, rate)


async def _remaining_in_redis_now(redis: Redis, prefix: str, key: str, rate: Rate) -> int:
    fresh = RateLimiter(redis, key_prefix=prefix)  # a new one each time: no headroom of its own
    decision = await fresh.acquire(Spend(key, rate, 0))
    assert decision is not None
    return decision.remaining


async def test_headroom_admits_far_from_the_limit_and_every_unit_is_charged(redis: Redis, limiter: RateLimiter) -> None:
    telemetry = install_test_telemetry()
    rate = Rate(100_000, 86_400)  # refills one unit every 0.86 s: none during the test
    first = await limiter.acquire(Spend("busy", rate))
    assert first is not None
    assert first.remaining == 99_999
    before = telemetry.histogram_count("redis.command.duration", **{"db.operation": "EVALSHA", "outcome": "ok"})
    decisions = [await limiter.acquire(Spend("busy", rate)) for _ in range(1000)]
    calls = telemetry.histogram_count("redis.command.duration", **{"db.operation": "EVALSHA", "outcome": "ok"}) - before
    assert all(d is not None and d.allowed for d in decisions)
    assert [d.remaining for d in decisions if d] == list(range(99_998, 98_998, -1))
    # RateLimit-Reset grows as units are spent here too: 1,001 units at 0.864 s each is about 865 s.
    assert decisions[-1] is not None
    assert 864 <= decisions[-1].reset_seconds <= 866
    assert calls == 0  # admitted here; the charges wait _OWED_DELAY_SECONDS for company
    assert await _remaining_in_redis(redis, limiter, "busy", rate) == 98_999  # all 1001 units charged


async def test_owed_charges_go_out_by_themselves_after_a_short_delay(redis: Redis, limiter: RateLimiter) -> None:
    rate = Rate(100_000, 86_400)
    await limiter.acquire(Spend("quiet", rate))
    for _ in range(10):
        await limiter.acquire(Spend("quiet", rate))  # from headroom: charged later
    before = await _remaining_in_redis_now(redis, limiter._prefix, "quiet", rate)
    await asyncio.sleep(0.3)  # no check, no flush: the delayed batch goes on its own
    after = await _remaining_in_redis_now(redis, limiter._prefix, "quiet", rate)
    assert (before, after) == (99_999, 99_989)


async def test_headroom_never_lets_one_instance_past_the_limit(limiter: RateLimiter) -> None:
    rate = Rate(40, 3600)
    decisions = [await limiter.acquire(Spend("edge", rate)) for _ in range(45)]
    assert [d.allowed for d in decisions if d] == [True] * 40 + [False] * 5
    assert [d.remaining for d in decisions if d][:40] == list(range(39, -1, -1))


async def test_two_instances_share_one_count(redis: Redis, limiter: RateLimiter) -> None:
    rate = Rate(200, 3600)
    other = RateLimiter(redis, key_prefix=limiter._prefix)
    allowed = 0
    for n in range(300):
        decision = await (limiter if n % 2 else other).acquire(Spend("shared", rate))
        assert decision is not None
        allowed += decision.allowed
        await asyncio.sleep(0)  # a background charge may go out between checks, as between requests
    # Each instance may spend its share of what it last saw before hearing of the other's spending; never
    # more, and every admitted unit is charged.
    assert 200 <= allowed <= 250
    await other.flush()
    assert await _remaining_in_redis(redis, limiter, "shared", rate) == 0


async def test_headroom_covers_checks_of_several_keys(redis: Redis, limiter: RateLimiter) -> None:
    telemetry = install_test_telemetry()
    wide, tight = Rate(100_000, 86_400), Rate(40, 3600)
    await limiter.acquire(Spend("w1", wide), Spend("w2", wide))
    before = telemetry.histogram_count("redis.command.duration", **{"db.operation": "EVALSHA", "outcome": "ok"})
    far = [await limiter.acquire(Spend("w1", wide), Spend("w2", wide)) for _ in range(100)]
    calls = telemetry.histogram_count("redis.command.duration", **{"db.operation": "EVALSHA", "outcome": "ok"}) - before
    assert all(d is not None and d.allowed for d in far)
    assert calls <= 2
    near = [await limiter.acquire(Spend("w1", wide), Spend("t", tight)) for _ in range(45)]
    assert [d.allowed for d in near if d] == [True] * 40 + [False] * 5  # the tight key decides, exactly
    assert await _remaining_in_redis(redis, limiter, "w1", wide) == 100_000 - 101 - 40  # all charged


async def test_a_charge_within_the_headroom_spends_it_and_one_beyond_ends_it(limiter: RateLimiter) -> None:
    rate = Rate(1000, 3600)
    await limiter.acquire(Spend("tokens", rate))  # 999 remain: 249 may be spent here
    await limiter.charge(Spend("tokens", rate, 100))
    within = await limiter.acquire(Spend("tokens", rate))
    assert within is not None
    assert within.remaining == 898  # the charge was counted here too
    rate = Rate(1000, 60)
    first = await limiter.acquire(Spend("debt", rate))
    assert first is not None
    assert first.allowed
    await limiter.charge(Spend("debt", rate, 5000))  # into debt
    after = await limiter.acquire(Spend("debt", rate))
    assert after is not None
    assert not after.allowed
