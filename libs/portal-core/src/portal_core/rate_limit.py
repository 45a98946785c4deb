"""The one rate limiter: GCRA in Redis, with every check made in the same event-loop tick sent as one call.

GCRA (generic cell rate algorithm) keeps one number per key, the "theoretical arrival time" (TAT): a
rate of `count` per `period` allows a burst of `count`, then refills one unit every period/count.
Redis' own clock is used, so every instance of a service agrees.

Why batched: the gateway checks a limit on every request, and one Redis round trip per request
(redis-py's per-command connection checkout, health check, encode and parse) was a fifth of its CPU
at saturation. Checks that arrive while a call is in flight wait for it and go together in the next
one: under load a batch holds dozens of checks, at low load the first goes out at once. Every check
is still atomic in Redis: the script evaluates the batch's groups one after another.

Headroom: a check far from its limits does not wait for Redis. After each answer the limiter keeps,
per key, a quarter of the units Redis said remain (for a second; for a check of several keys, of the
tightest key's); checks within that share are admitted at once and their charges go to Redis later,
added up per key: in the next check's batch, or, when no check needs Redis, in one sent after
`_OWED_DELAY_SECONDS` (at 100 requests/s a charge call per request was a twentieth of the AI
gateway's CPU; 50 ms is small beside the second a share lasts). The client at 5,000 req/s costs one
script evaluation per batch instead of one per request, and nothing near a limit changes: once the
share is spent, or when little remains, every check asks Redis again.
Charges are never skipped, so a key's count in Redis stays exact; what is approximate is only when
several instances spend their shares at the same moment (at most a quarter of the remaining units
each; a Redis round trip later they all see the true count).

One script call touches many keys, so on Redis Cluster the keys must share a hash slot (a `{tag}`
in the key prefix); the platform runs a single Redis primary.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from portal_core.logging import get_logger
from portal_core.telemetry import meter

_log = get_logger("portal.rate_limit")
_failures = meter("portal.rate_limit").create_counter(
    "rate_limit.redis_failures", description="Rate limit checks let through unchecked because Redis failed"
)

# A batch runs as one Lua script, which blocks Redis while it runs: keep each call short.
_MAX_GROUPS_PER_CALL = 256

# ARGV: per group, its mode (1 acquire: all or nothing; 2 charge: always spent, may go into debt), its
# number of keys, then per key: emission (ms per unit), burst (units), cost (units).
# KEYS: every group's keys in order. Returns per group: allowed, remaining, retry_after_ms, reset_ms,
# and the 1-based index of the key that refused (0 when allowed); the remaining and reset are those
# of the tightest key.
_GCRA_BATCH = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local out = {}
local a, k = 1, 1
while a <= #ARGV do
  local mode, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local allowed, remaining, retry_after, refused = 1, -1, 0, 0
  local tats, new_tats = {}, {}
  for i = 0, n - 1 do
    local emission, burst, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    a = a + 3
    local tat = tonumber(redis.call('GET', KEYS[k + i]) or now)
    if tat < now then tat = now end
    local new_tat = tat + emission * cost
    local allow_at = new_tat - emission * burst
    tats[i], new_tats[i] = tat, new_tat
    if now < allow_at and mode == 1 then
      if allowed == 1 then allowed, refused, retry_after = 0, i + 1, allow_at - now end
    else
      local left = math.max(0, math.floor((now - allow_at) / emission))
      if remaining < 0 or left < remaining then remaining = left end
    end
  end
  local reset = 0
  for i = 0, n - 1 do
    local tat = allowed == 1 and new_tats[i] or tats[i]
    if tat - now > reset then reset = tat - now end
    if allowed == 1 and new_tats[i] > now then
      redis.call('SET', KEYS[k + i], new_tats[i], 'PX', math.ceil(new_tats[i] - now))
    end
  end
  if allowed == 0 or remaining < 0 then remaining = 0 end
  k = k + n
  out[#out + 1] = allowed
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(retry_after)
  out[#out + 1] = math.ceil(reset)
  out[#out + 1] = refused
end
return out
"""

_ACQUIRE, _CHARGE = 1, 2
# Headroom (see the module docstring): the share of the remaining units spent without asking, how long
# an answer is trusted, and how many keys' headroom is kept.
_LOCAL_SHARE = 0.25
_HEADROOM_SECONDS = 1.0
_MAX_HEADROOM_KEYS = 10_000
# Background charges per group: bounded like a batch, so one call never holds Redis long.
_MAX_KEYS_PER_CHARGE = 64
# Charges owed for checks admitted from headroom wait this long for more before going to Redis alone.
_OWED_DELAY_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` units per `period_seconds`, with bursts of up to `count`."""

    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.period_seconds <= 0:
            raise ValueError("a rate needs a count of at least 1 and a positive period")

    @property
    def emission_ms(self) -> float:
        return self.period_seconds * 1000 / self.count


@dataclass(frozen=True, slots=True)
class Spend:
    """Spend `cost` units of `rate` under `key` (cost 0 only asks whether the key is within its rate)."""

    key: str
    rate: Rate
    cost: int = 1


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int  # the count of the tightest rate
    remaining: int
    reset_seconds: int  # until the keys are back to a full burst
    retry_after_seconds: int  # 0 when allowed
    refused: Spend | None  # the spend that was over its rate

    def headers(self) -> list[tuple[bytes, bytes]]:
        """RateLimit-* (draft-ietf-httpapi-ratelimit-headers); a 429 adds Retry-After through its error."""
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]


def _check_keys(spends: Sequence[Spend]) -> None:
    if not spends:
        raise ValueError("nothing to spend")
    if len(spends) > 1 and len({spend.key for spend in spends}) < len(spends):
        raise ValueError("each key may appear once per call: add up its costs")


@dataclass(slots=True)
class _Headroom:
    """What Redis last said of one key, and how much of it may still be spent without asking."""

    spendable: int
    remaining: int
    limit: int
    reset_ms: float  # until the key is back to a full burst; each unit spent here adds its emission
    until: float  # monotonic time after which Redis is asked again


_Waiter = asyncio.Future[list[int]] | None  # None: a background charge nobody waits for


class RateLimiter:
    """`acquire` spends from every given key or from none; `charge` spends what is already used.

    When Redis fails, checks are let through (fail open): `acquire` returns None, with a warning and a
    metric. A limit guards against abuse; a Redis outage must not become an outage of the API, and the
    callers keep their own hard guards (budgets, lockouts). After a failure Redis is not asked for a
    second, so a dead Redis does not add a connect timeout to every request.
    """

    _COOLDOWN_SECONDS = 1.0

    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._script = redis.register_script(_GCRA_BATCH)
        self._prefix = key_prefix
        self._pending: list[tuple[int, Sequence[Spend], _Waiter]] = []
        self._sender: asyncio.Task[None] | None = None
        self._skip_until = 0.0
        self._headroom: dict[str, _Headroom] = {}
        self._owed: dict[str, Spend] = {}  # spent from headroom, not yet charged in Redis
        self._owed_timer: asyncio.TimerHandle | None = None

    async def acquire(self, *spends: Spend) -> RateDecision | None:
        """Spend every `spends` if all are within their rates, else none; None when Redis was not asked."""
        _check_keys(spends)
        admitted = self._from_headroom(spends)
        if admitted is not None:
            return admitted
        result = await self._submit(_ACQUIRE, spends)
        if result is None:
            return None
        allowed, remaining, retry_ms, reset_ms, refused = result
        # Units admitted here while the call was out are not in Redis' answer yet.
        owed = max((self._owed[spend.key].cost for spend in spends if spend.key in self._owed), default=0)
        decision = RateDecision(
            allowed=bool(allowed),
            limit=min(spend.rate.count for spend in spends),
            remaining=max(0, remaining - owed),
            reset_seconds=math.ceil(reset_ms / 1000),
            retry_after_seconds=max(1, math.ceil(retry_ms / 1000)) if not allowed else 0,
            refused=spends[refused - 1] if refused else None,
        )
        self._keep_headroom(spends, decision, reset_ms)
        return decision

    async def charge(self, *spends: Spend) -> None:
        """Spend units already used (tokens counted after a call): always recorded, the keys may go into
        debt, and the next `acquire` on them is refused until the debt has drained."""
        _check_keys(spends)
        for spend in spends:  # spent from the headroom too; beyond it, the next check asks Redis
            room = self._headroom.get(spend.key)
            if room is not None:
                room.spendable -= spend.cost
                room.remaining -= spend.cost
                room.reset_ms += spend.cost * spend.rate.emission_ms
                if room.spendable < 0:
                    del self._headroom[spend.key]
        await self._submit(_CHARGE, spends)

    def _from_headroom(self, spends: Sequence[Spend]) -> RateDecision | None:
        now = time.monotonic()
        rooms = []
        for spend in spends:
            room = self._headroom.get(spend.key)
            if room is None or room.spendable < spend.cost or now > room.until:
                return None
            rooms.append(room)
        for spend, room in zip(spends, rooms, strict=True):
            room.spendable -= spend.cost
            room.remaining -= spend.cost
            room.reset_ms += spend.cost * spend.rate.emission_ms
            owed = self._owed.get(spend.key)
            self._owed[spend.key] = spend if owed is None else Spend(spend.key, spend.rate, owed.cost + spend.cost)
        if self._sender is None and self._owed_timer is None:
            self._owed_timer = asyncio.get_running_loop().call_later(_OWED_DELAY_SECONDS, self._send_owed)
        return RateDecision(
            allowed=True,
            limit=min(room.limit for room in rooms),
            remaining=min(room.remaining for room in rooms),
            reset_seconds=math.ceil(max(room.reset_ms for room in rooms) / 1000),
            retry_after_seconds=0,
            refused=None,
        )

    def _send_owed(self) -> None:
        self._owed_timer = None
        if self._owed and self._sender is None:
            self._sender = asyncio.ensure_future(self._send_pending())

    async def flush(self) -> None:
        """Send the charges owed for checks admitted from headroom now (on shutdown; in tests)."""
        if self._owed_timer is not None:
            self._owed_timer.cancel()
            self._send_owed()
        while self._sender is not None:
            await asyncio.shield(self._sender)

    def _keep_headroom(self, spends: Sequence[Spend], decision: RateDecision, reset_ms: float) -> None:
        # Redis answers the tightest key's remaining units: a safe bound for every key of the check.
        spendable = int(decision.remaining * _LOCAL_SHARE) if decision.allowed else 0
        if spendable < 1:
            for spend in spends:
                self._headroom.pop(spend.key, None)
            return
        if len(self._headroom) + len(spends) > _MAX_HEADROOM_KEYS:
            self._headroom.clear()  # only an optimisation: the next checks ask Redis
        until = time.monotonic() + _HEADROOM_SECONDS
        for spend in spends:
            self._headroom[spend.key] = _Headroom(spendable, decision.remaining, decision.limit, reset_ms, until)

    async def _submit(self, mode: int, spends: Sequence[Spend]) -> list[int] | None:
        if self._skip_until and time.monotonic() < self._skip_until:
            _failures.add(1)
            return None
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((mode, spends, future))
        if self._sender is None:
            # Started now, it first runs after the callbacks already queued in this tick: they join the batch.
            self._sender = asyncio.ensure_future(self._send_pending())
        try:
            return await future
        except (RedisError, OSError) as exc:
            if not self._skip_until or time.monotonic() >= self._skip_until:
                _log.warning("rate limit not enforced: Redis failed", error=type(exc).__name__)
            self._skip_until = time.monotonic() + self._COOLDOWN_SECONDS
            _failures.add(1)
            return None

    async def _send_pending(self) -> None:
        try:
            while self._pending or self._owed:
                if self._owed:
                    # What headroom admitted since the last call, one charge per key, goes first: the
                    # checks waiting in this batch must see it.
                    owed = list(self._owed.values())
                    self._owed.clear()
                    self._pending[:0] = [
                        (_CHARGE, owed[start : start + _MAX_KEYS_PER_CHARGE], None)
                        for start in range(0, len(owed), _MAX_KEYS_PER_CHARGE)
                    ]
                batch = self._pending[:_MAX_GROUPS_PER_CALL]
                del self._pending[:_MAX_GROUPS_PER_CALL]
                await self._send(batch)
        finally:
            self._sender = None

    async def _send(self, batch: list[tuple[int, Sequence[Spend], _Waiter]]) -> None:
        keys: list[str] = []
        args: list[Any] = []
        for mode, spends, _ in batch:
            args += (mode, len(spends))
            for spend in spends:
                keys.append(self._prefix + spend.key)
                args += (repr(spend.rate.emission_ms), spend.rate.count, spend.cost)
        try:
            flat = await self._script(keys=keys, args=args)
        except BaseException as exc:  # every waiter sees the failure; the next batch tries again
            if any(future is None for *_, future in batch):
                _failures.add(1)  # background charges are lost: fail open, as for the checks
            for *_, future in batch:
                if future is None or future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        self._skip_until = 0.0
        for n, (*_, future) in enumerate(batch):
            if future is not None and not future.done():  # its request may have been cancelled meanwhile
                future.set_result([int(value) for value in flat[5 * n : 5 * n + 5]])
