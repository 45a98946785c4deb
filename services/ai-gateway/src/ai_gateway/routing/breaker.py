"""A circuit breaker per provider and model: after N failures in a row, skip it for a while.

Per process, on purpose: it reacts to what this instance sees within seconds, and needs no round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    failure_threshold: int
    reset_seconds: float
    failures: int = 0
    opened_at: float | None = None
    _trial_running: bool = field(default=False, repr=False)

    def allow(self, now: float | None = None) -> bool:
        """Closed: yes. Open: no, until reset_seconds passed; then one trial call (half-open)."""
        if self.opened_at is None:
            return True
        current = time.monotonic() if now is None else now
        if current - self.opened_at < self.reset_seconds or self._trial_running:
            return False
        self._trial_running = True
        return True

    def record_success(self) -> None:
        self.failures, self.opened_at, self._trial_running = 0, None, False

    def record_failure(self, now: float | None = None) -> None:
        self.failures += 1
        self._trial_running = False
        if self.failures >= self.failure_threshold:
            self.opened_at = time.monotonic() if now is None else now

    @property
    def state(self) -> str:
        return "closed" if self.opened_at is None else "open"


class Breakers:
    def __init__(self, failure_threshold: int, reset_seconds: float) -> None:
        self._threshold = failure_threshold
        self._reset = reset_seconds
        self._by_key: dict[str, CircuitBreaker] = {}

    def get(self, key: str) -> CircuitBreaker:
        breaker = self._by_key.get(key)
        if breaker is None:
            breaker = self._by_key[key] = CircuitBreaker(self._threshold, self._reset)
        return breaker
