"""A chat call end to end: admission (policy, budget, rate limits), dispatch, and accounting once at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import asyncpg
from portal_core.assertion import Identity
from portal_core.ids import new_id
from portal_core.logging import get_logger
from portal_core.observability import current_trace_id

from ai_gateway.chat.errors import BudgetExhausted, ChatError, LedgerUnavailable, ModelNotAllowed
from ai_gateway.chat.tenant_state import TenantStates
from ai_gateway.chat.types import (
    ChatRequest,
    ChatResult,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    approximate_tokens,
)
from ai_gateway.limits.rate_limit import CallLimits
from ai_gateway.providers.base import ProviderError
from ai_gateway.providers.transport import admission_gate
from ai_gateway.routing.catalog import Catalog, ModelRef
from ai_gateway.routing.dispatcher import Dispatcher, client_error
from ai_gateway.usage.recorder import LedgerWriter
from ai_gateway.usage.schemas import UsageRecord
from ai_gateway.usage.starts import CallStart, StartLog
from ai_gateway.usage.sweeper import CallKeeper

_log = get_logger("ai.calls")
T = TypeVar("T")


@dataclass
class Call:
    """One admitted call: who, what was asked, which models may answer, and what to record at the end."""

    tenant_id: str
    user_id: str
    endpoint: str
    stream: bool
    model_requested: str
    candidates: list[ModelRef]
    store_content: bool
    id: str = field(default_factory=lambda: str(new_id()))
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    trace_id: str = ""
    # The rate limits' count and the start row's commit, under way while the provider's request is built.
    admission: asyncio.Future[None] | None = None


class ChatService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        limiter: CallLimits,
        catalog: Catalog,
        dispatcher: Dispatcher,
        prices: dict[str, dict[str, float]],
        stale_after_seconds: float,
        tenant_state_ttl_seconds: float = 1.0,
    ) -> None:
        self._pool = pool
        self._limiter = limiter
        self._catalog = catalog
        self._dispatcher = dispatcher
        self._prices = prices
        self._starts = StartLog(pool)
        self.tenants = TenantStates(pool, tenant_state_ttl_seconds)
        self._ledger = LedgerWriter(pool, self._starts, self._count_tokens, on_committed=self._committed)
        self._keeper = CallKeeper(pool, self._starts, stale_after_seconds)

    def start(self) -> None:
        self._ledger.start()
        self._keeper.start()

    async def drain(self) -> None:
        """Record the calls still queued (on shutdown, before the pool closes)."""
        await self._starts.close()
        await self._keeper.close()
        await self._ledger.close()
        await self._limiter.flush()  # the ledger's last token charges, and requests counted from headroom

    def _committed(self, batch: list[UsageRecord], charged: list[UsageRecord]) -> None:
        self.tenants.recorded(_charges(batch), _charges(charged))

    async def _count_tokens(self, records: list[UsageRecord]) -> None:
        await self._limiter.add_tokens([(r.tenant_id, r.user_id, r.input_tokens + r.output_tokens) for r in records])

    async def admit(self, identity: Identity, model: str, endpoint: str, stream: bool, request: ChatRequest) -> Call:
        """Check a call (raises ModelNotFound/ModelNotAllowed, BudgetExhausted, LedgerUnavailable) and start its
        admission: the rate limits' count and the start row's commit, which `complete` / `open_stream` overlap
        with building the provider's request. No provider is sent a byte before both succeeded; if either
        fails, its error (RateLimited, LedgerUnavailable) is what `complete` / `open_stream` raise."""
        tenant_id, user_id = str(identity.tenant_id), str(identity.user_id)
        candidates = self._catalog.candidates(model)
        policy, budget = await self.tenants.get(tenant_id)  # usually no round trip: chat/tenant_state.py
        if policy.allowed_models is not None:
            allowed = set(policy.allowed_models)
            if model not in allowed and candidates[0].qualified not in allowed:
                raise ModelNotAllowed(f"This tenant may not use the model '{model}'", param="model")
            candidates = [candidates[0], *(c for c in candidates[1:] if c.qualified in allowed)]
        if budget is not None and budget.exhausted:
            raise BudgetExhausted(
                f"The tenant's {budget.period} AI budget is spent", retry_after=budget.seconds_to_reset or 3600
            )
        if self._ledger.backlogged:
            raise LedgerUnavailable("The usage ledger is not keeping up; try again shortly", retry_after=1)
        call = Call(
            tenant_id=tenant_id,
            user_id=user_id,
            endpoint=endpoint,
            stream=stream,
            model_requested=model,
            candidates=candidates,
            store_content=policy.store_content,
            trace_id=current_trace_id(),
        )
        call.admission = asyncio.ensure_future(self._admission(call, self._begin(call, request)))
        return call

    async def _admission(self, call: Call, started: asyncio.Future[None]) -> None:
        # The rate limit counts the request while the start is being committed: one round trip, not two. A call
        # refused by the rate limit, or whose client went away (this task cancelled), has its start withdrawn.
        try:
            await self._limiter.admit(call.tenant_id, call.user_id)
        except BaseException:
            await self._starts.withdraw(call.id, started)
            raise
        try:
            await started
        except asyncio.CancelledError:
            await self._starts.withdraw(call.id, started)
            raise
        except Exception as exc:  # the database is away: better no call than a call nobody can account for
            raise LedgerUnavailable("Usage cannot be recorded right now; try again shortly", retry_after=1) from exc

    async def _raise_unless_admitted(self, call: Call, error: BaseException) -> None:
        """A call that failed before its admission succeeded was never sent: raise, recording nothing."""
        admission = call.admission
        if admission is None:
            return
        if not admission.done():
            if isinstance(error, asyncio.CancelledError):
                admission.cancel()  # the client went away first: the start row is withdrawn (starts.py)
                raise error
            try:
                await asyncio.wait([admission])  # failed while building its request: is it a started call?
            except asyncio.CancelledError:
                admission.cancel()  # gone while waiting: as above
                raise
        if admission.cancelled():
            raise error
        if admission.exception() is not None:
            admission.result()

    def _begin(self, call: Call, request: ChatRequest) -> asyncio.Future[None]:
        """Queue the call's start row, which is committed before any provider sees the call: a crash from
        then on is settled (usage/sweeper.py)."""
        input_tokens = _estimate(request, "").input_tokens
        return self._starts.begin(
            CallStart(
                id=call.id,
                tenant_id=call.tenant_id,
                user_id=call.user_id,
                endpoint=call.endpoint,
                stream=call.stream,
                model_requested=call.model_requested,
                input_tokens=input_tokens,
                cost_micros=self._cost_micros(call.candidates[0], Usage(input_tokens=input_tokens)),
                trace_id=call.trace_id or None,
            )
        )

    async def complete(self, call: Call, request: ChatRequest) -> tuple[ModelRef, ChatResult]:
        """Call the providers for an admitted call (its start is committed); the call is recorded either way."""
        ref, result = await self._dispatched(
            call, request, lambda: self._dispatcher.complete(call.candidates, request, call.admission)
        )
        output = _output(result.text, result.tool_calls)
        self._finish(call, ref, result.usage, "completed", None, request, output)
        return ref, result

    async def open_stream(self, call: Call, request: ChatRequest) -> tuple[ModelRef, AsyncIterator[StreamEvent]]:
        """The model that answered and its events; the call is recorded when the iterator ends or is closed."""
        opened = await self._dispatched(
            call, request, lambda: self._dispatcher.open_stream(call.candidates, request, call.admission)
        )
        call.first_token_at = time.monotonic()
        return opened.ref, self._relay(call, opened.ref, opened.first, opened.rest, request)

    async def _dispatched(self, call: Call, request: ChatRequest, dispatch: Callable[[], Awaitable[T]]) -> T:
        """Run `dispatch` (the dispatcher, for this call) inside the call's admission gate. A failure is
        recorded for a started call, and raised without a record for one that was never admitted."""
        try:
            with admission_gate(call.admission):
                # One turn of the loop first, so the start's writer (woken by `_begin`, queued before this
                # task) sends its INSERT now: the commit then runs while the provider's request is built.
                await asyncio.sleep(0)
                return await dispatch()
        except BaseException as error:
            await self._raise_unless_admitted(call, error)
            if isinstance(error, ChatError):
                self._finish(call, None, Usage(), "failed", error.code, request, None)
            else:  # cancelled (client gone) or a bug: the started call is still settled
                self._finish_abruptly(call, request, error)
            raise

    async def _relay(
        self, call: Call, ref: ModelRef, first: StreamEvent, rest: AsyncIterator[StreamEvent], request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        text: list[str] = []
        arguments: dict[int, list[Any]] = {}
        usage: Usage | None = None
        outcome, error_code = "client_disconnected", None
        try:
            event: StreamEvent | None = first
            while event is not None:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, ToolCallStart):
                    arguments[event.index] = [event.id, event.name, ""]
                elif isinstance(event, ToolCallDelta) and event.index in arguments:
                    arguments[event.index][2] += event.arguments
                elif isinstance(event, StreamEnd):
                    usage, outcome = event.usage, "completed"
                yield event
                event = await anext(rest, None)
        except ChatError as error:
            outcome, error_code = "failed", error.code
            raise
        except ProviderError as exc:  # the provider failed mid-stream: too late to retry or fall back
            outcome, error_code = "failed", "upstream_failed"
            raise client_error(exc, ref) from exc
        except Exception:
            outcome, error_code = "failed", "upstream_failed"
            raise
        finally:
            # This runs on cancellation too (the client went away). The call is queued for the ledger
            # writer before any await, so a cancelled request cannot lose its accounting.
            if usage is None or usage.total == 0:
                usage = _estimate(request, "".join(text) + "".join(a[2] for a in arguments.values()))
            output = {"text": "".join(text), "tool_calls": list(arguments.values())}
            self._finish(call, ref, usage, outcome, error_code, request, output)
            with anyio.CancelScope(shield=True):
                await rest.aclose()  # type: ignore[attr-defined]

    def _finish_abruptly(self, call: Call, request: ChatRequest, error: BaseException) -> None:
        """A call that ended with neither an answer nor a provider error: charged its prompt's estimate."""
        cancelled = isinstance(error, asyncio.CancelledError)
        outcome, code = ("client_disconnected", None) if cancelled else ("failed", "internal")
        self._finish(call, None, _estimate(request, ""), outcome, code, request, None)

    def _finish(
        self,
        call: Call,
        ref: ModelRef | None,
        usage: Usage,
        outcome: str,
        error_code: str | None,
        request: ChatRequest,
        output: Any,
    ) -> None:
        now = time.monotonic()
        record = UsageRecord(
            id=call.id,
            tenant_id=call.tenant_id,
            user_id=call.user_id,
            endpoint=call.endpoint,
            stream=call.stream,
            model_requested=call.model_requested,
            model_used=ref.qualified if ref else None,
            provider=ref.provider if ref else None,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cost_micros=self._cost_micros(ref, usage),
            latency_ms=int((now - call.started) * 1000),
            first_token_ms=int((call.first_token_at - call.started) * 1000) if call.first_token_at else None,
            outcome=outcome,
            error_code=error_code,
            trace_id=call.trace_id or None,
            prompt=_prompt(request) if call.store_content else None,
            output=output if call.store_content else None,
        )
        # Queued in the loop's next turn, after the answer (written by then) has left: the ledger queue and the
        # log line are not the client's wait. A callback, not an await, so a cancelled request still runs it.
        asyncio.get_running_loop().call_soon(self._queue, record)

    def _queue(self, record: UsageRecord) -> None:
        self.tenants.queued(record.tenant_id, *_charge(record))  # counted by the budget gate from now on
        self._ledger.submit(record)
        _log.info(
            "call finished",
            call_id=record.id,
            model=record.model_used,
            outcome=record.outcome,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            latency_ms=record.latency_ms,
        )

    def _cost_micros(self, ref: ModelRef | None, usage: Usage) -> int:
        price = self._prices.get(ref.qualified) if ref else None
        if not price:
            return 0
        # USD per million tokens x tokens = micro-USD.
        uncached = max(0, usage.input_tokens - usage.cached_tokens)
        cached_price = price.get("cached_input", price.get("input", 0.0))
        total = uncached * price.get("input", 0.0) + usage.cached_tokens * cached_price
        return round(total + usage.output_tokens * price.get("output", 0.0))


def _charge(record: UsageRecord) -> tuple[int, int]:
    return record.input_tokens + record.output_tokens, record.cost_micros


def _charges(records: list[UsageRecord]) -> list[tuple[str, int, int]]:
    return [(r.tenant_id, *_charge(r)) for r in records]


def _estimate(request: ChatRequest, emitted: str) -> Usage:
    prompt = request.system + "".join(m.text + "".join(c.arguments for c in m.tool_calls) for m in request.messages)
    return Usage(input_tokens=approximate_tokens(prompt), output_tokens=approximate_tokens(emitted))


def _prompt(request: ChatRequest) -> dict[str, Any]:
    return {
        "system": request.system,
        "messages": [
            {"role": m.role, "text": m.text, "tool_calls": [[c.id, c.name, c.arguments] for c in m.tool_calls]}
            for m in request.messages
        ],
    }


def _output(text: str, calls: Any) -> dict[str, Any]:
    return {"text": text, "tool_calls": [[c.id, c.name, c.arguments] for c in calls]}
