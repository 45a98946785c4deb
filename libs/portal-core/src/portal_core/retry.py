"""Retry policies (tenacity) shared by every service: one definition of "transient" and of backoff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

F = TypeVar("F", bound=Callable[..., Any])

TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)


def retrying(
    *,
    attempts: int = 5,
    max_seconds: float = 30.0,
    initial: float = 0.1,
    maximum: float = 5.0,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> AsyncRetrying:
    """`async for attempt in retrying(): with attempt: ...` retries transient failures with jittered backoff."""
    return AsyncRetrying(
        retry=retry_if_exception_type(transient),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_seconds),
        wait=wait_exponential_jitter(initial=initial, max=maximum),
        reraise=True,
    )
