"""What every provider adapter offers, and the one error type adapters raise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from ai_gateway.chat.types import ChatRequest, ChatResult, StreamEvent

_CONTEXT_OVERFLOW_HINTS = ("context length", "context_length", "too many tokens", "prompt is too long", "token count")


class ProviderError(Exception):
    """A failed provider call, classified so the dispatcher knows whether to retry or fall back."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        timeout: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # None: the connection failed or timed out
        self.retry_after = retry_after
        self.timeout = timeout

    @property
    def context_overflow(self) -> bool:
        return self.status in (400, 413) and any(h in self.message.lower() for h in _CONTEXT_OVERFLOW_HINTS)

    @property
    def retryable(self) -> bool:
        """Worth another try at the same model: rate limited, overloaded, a server fault, the network."""
        return self.status is None or self.status in (408, 409, 429) or self.status >= 500

    @property
    def fallback_worthy(self) -> bool:
        """Worth trying the next model: anything retryable, or a prompt too long for this model."""
        return self.retryable or self.context_overflow


class Provider(Protocol):
    name: str
    # True when the provider's HTTP transport holds a call's first byte until the call is admitted
    # (providers/transport.py); otherwise the dispatcher waits for admission before calling it.
    sends_wait_for_admission: bool

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One whole answer; raises ProviderError."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """An async generator of stream events ending with StreamEnd; closing it closes the upstream call."""
        ...

    async def aclose(self) -> None: ...


def retry_after_seconds(headers: Any) -> float | None:
    """Retry-After (seconds form, or `retry-after-ms`) from a response's headers, if any."""
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None  # an HTTP-date Retry-After: fall back to our own backoff
