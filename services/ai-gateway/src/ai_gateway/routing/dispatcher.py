"""Calls a provider with retries (tenacity, honouring Retry-After), ordered fallbacks and breakers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from portal_core.logging import get_logger
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ai_gateway.chat.errors import (
    ChatError,
    InvalidChatRequest,
    ModelNotFound,
    RateLimited,
    UpstreamFailed,
    UpstreamOverloaded,
    UpstreamTimeout,
)
from ai_gateway.chat.types import ChatRequest, ChatResult, StreamEvent
from ai_gateway.providers.base import Provider, ProviderError
from ai_gateway.routing.breaker import Breakers
from ai_gateway.routing.catalog import ModelRef

T = TypeVar("T")
_log = get_logger("ai.dispatcher")


@dataclasses.dataclass
class OpenedStream:
    ref: ModelRef
    first: StreamEvent
    rest: AsyncIterator[StreamEvent]
    attempts: int


class Dispatcher:
    def __init__(
        self,
        providers: dict[str, Provider],
        breakers: Breakers,
        attempts: int,
        max_wait: float,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        self.providers = providers
        self._breakers = breakers
        self._attempts = attempts
        self._max_wait = max_wait
        self._backoff = wait_exponential_jitter(initial=backoff[0], max=backoff[1])

    async def complete(
        self, candidates: list[ModelRef], request: ChatRequest, admission: asyncio.Future[None] | None = None
    ) -> tuple[ModelRef, ChatResult]:
        """The first candidate's answer that comes; `admission` as in `open_stream`."""

        async def call(ref: ModelRef) -> ChatResult:
            provider = await self._admitted(ref, admission)
            return await provider.complete(dataclasses.replace(request, model=ref.model))

        return await self._first_success(candidates, call, admission)

    async def open_stream(
        self, candidates: list[ModelRef], request: ChatRequest, admission: asyncio.Future[None] | None = None
    ) -> OpenedStream:
        """Retries and fallbacks apply until the first event arrives; after that the stream is the client's.

        `admission` is the call's admission still under way: a provider whose transport holds its first byte
        until then is called at once (its request is built meanwhile), any other once it has succeeded; if it
        fails, its error is raised.
        """

        async def call(ref: ModelRef) -> OpenedStream:
            provider = await self._admitted(ref, admission)
            stream = provider.stream(dataclasses.replace(request, model=ref.model))
            try:
                first = await anext(aiter(stream))
            except BaseException:
                await stream.aclose()  # type: ignore[attr-defined]
                raise
            return OpenedStream(ref, first, stream, 0)

        _, opened = await self._first_success(candidates, call, admission)
        return opened

    async def _admitted(self, ref: ModelRef, admission: asyncio.Future[None] | None) -> Provider:
        provider = self.providers[ref.provider]
        if admission is not None and (admission.done() or not provider.sends_wait_for_admission):
            await admission  # raises the refusal (RateLimited, LedgerUnavailable)
        return provider

    async def _first_success(
        self,
        candidates: list[ModelRef],
        call: Callable[[ModelRef], Awaitable[T]],
        admission: asyncio.Future[None] | None = None,
    ) -> tuple[ModelRef, T]:
        last: ProviderError | None = None
        for ref in candidates:
            breaker = self._breakers.get(ref.qualified)
            if not breaker.allow():
                _log.info("circuit open, skipping", model=ref.qualified)
                last = ProviderError(f"{ref.qualified} is failing; its circuit is open", status=503)
                continue
            try:
                result = await self._retrying(ref, call, admission)
            except ProviderError as exc:
                if exc.retryable:
                    breaker.record_failure()
                else:
                    breaker.record_success()  # the provider answered; the request was the problem
                if not exc.fallback_worthy:
                    raise client_error(exc, ref) from exc
                _log.warning("model failed, trying the next", model=ref.qualified, status=exc.status, error=exc.message)
                last = exc
                continue
            breaker.record_success()
            return ref, result
        assert last is not None
        raise client_error(last, candidates[-1]) from last

    async def _retrying(
        self, ref: ModelRef, call: Callable[[ModelRef], Awaitable[T]], admission: asyncio.Future[None] | None
    ) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            retry=retry_if_exception(self._worth_retrying),
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    return await call(ref)
                except ProviderError:
                    # The transport refused to send because admission failed meanwhile: that refusal is the answer.
                    if admission is not None and admission.done() and not admission.cancelled():
                        admission.result()
                    raise
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        # A Retry-After longer than we are willing to wait: better to move on to the next candidate now.
        return exc.retry_after is None or exc.retry_after <= self._max_wait

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))


def client_error(exc: ProviderError, ref: ModelRef) -> ChatError:
    """What the client is told when no candidate answered."""
    where = f"{ref.qualified}: {exc.message}"
    retry_after = int(exc.retry_after) + 1 if exc.retry_after is not None else None
    if exc.timeout:
        return UpstreamTimeout(f"The model provider did not answer in time ({ref.qualified})")
    if exc.context_overflow:
        error = InvalidChatRequest(f"The prompt is too long for {where}", param="messages")
        error.code = "context_length_exceeded"
        return error
    if exc.status == 429:
        return RateLimited(f"The model provider is rate limiting ({where})", retry_after=retry_after or 1)
    if exc.status == 404:
        return ModelNotFound(f"The model provider does not know this model ({where})", param="model")
    if exc.status in (400, 413, 422):
        return InvalidChatRequest(f"The model provider refused the request ({where})")
    if exc.status in (503, 529):
        return UpstreamOverloaded(f"The model provider is overloaded ({where})", retry_after=retry_after)
    return UpstreamFailed(f"The model provider failed ({where})")
