"""Unit tests of the pure parts: model resolution, the circuit breaker, dispatch with hand-written providers,
and the translations between the client APIs and the neutral types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ai_gateway.chat.errors import LedgerUnavailable, ModelNotFound, RateLimited, UpstreamFailed
from ai_gateway.chat.types import ChatRequest, ChatResult, Message, StreamEnd, StreamEvent, TextDelta, Usage
from ai_gateway.compat import anthropic_translate, openai_translate
from ai_gateway.compat.anthropic_schemas import MessagesRequest
from ai_gateway.compat.openai_schemas import ChatCompletionRequest
from ai_gateway.providers.base import ProviderError
from ai_gateway.routing.breaker import Breakers, CircuitBreaker
from ai_gateway.routing.catalog import Catalog, ModelRef
from ai_gateway.routing.dispatcher import Dispatcher
from ai_gateway.settings import AiSettings
from msgspec import convert
from portal_core.settings import SettingsError, load_settings


def test_catalog_resolves_prefixes_aliases_and_families() -> None:
    catalog = Catalog({"openai", "local"}, {"fast": "openai/gpt-4o-mini"}, {"fast": ["local/echo"]}, {})
    assert catalog.resolve("openai/gpt-4o") == ModelRef("openai", "gpt-4o")
    assert catalog.resolve("fast") == ModelRef("openai", "gpt-4o-mini")
    assert catalog.resolve("gpt-4.1") == ModelRef("openai", "gpt-4.1")
    assert catalog.candidates("fast") == [ModelRef("openai", "gpt-4o-mini"), ModelRef("local", "echo")]
    for name in ("claude-3", "anthropic/claude-3", "mystery"):
        with pytest.raises(ModelNotFound):
            catalog.resolve(name)


def test_breaker_opens_after_threshold_and_half_opens_after_reset() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=10)
    breaker.record_failure(now=0)
    assert breaker.allow(now=1)
    breaker.record_failure(now=1)
    assert not breaker.allow(now=5)
    assert breaker.allow(now=12), "one trial after the reset time"
    assert not breaker.allow(now=12), "only one trial at a time"
    breaker.record_success()
    assert breaker.allow(now=13)
    assert breaker.state == "closed"


class ScriptedProvider:
    """Fails with the queued errors, then answers."""

    def __init__(self, name: str, errors: list[ProviderError], *, sends_wait_for_admission: bool = False) -> None:
        self.name = name
        self.errors = errors
        self.calls = 0
        self.sends_wait_for_admission = sends_wait_for_admission

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ChatResult(f"from {self.name}", (), "stop", Usage(1, 1), request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        result = await self.complete(request)
        yield TextDelta(result.text)
        yield StreamEnd("stop", result.usage)

    async def aclose(self) -> None:
        return None


REQUEST = ChatRequest(model="", messages=(Message("user", "hi"),))
CHAIN = [ModelRef("a", "m"), ModelRef("b", "m")]


async def test_open_breaker_skips_the_model_without_calling_it() -> None:
    a = ScriptedProvider("a", [ProviderError("down", status=500) for _ in range(2)])
    b = ScriptedProvider("b", [])
    dispatcher = Dispatcher({"a": a, "b": b}, Breakers(1, 60), attempts=2, max_wait=1, backoff=(0.0, 0.0))
    assert (await dispatcher.complete(CHAIN, REQUEST))[0].provider == "b"
    assert a.calls == 2
    assert (await dispatcher.complete(CHAIN, REQUEST))[0].provider == "b"
    assert a.calls == 2, "the open circuit kept the failing model out"


async def test_context_overflow_falls_back_without_retrying() -> None:
    a = ScriptedProvider("a", [ProviderError("This model's maximum context length is 8192 tokens", status=400)])
    b = ScriptedProvider("b", [])
    dispatcher = Dispatcher({"a": a, "b": b}, Breakers(5, 60), attempts=3, max_wait=1, backoff=(0.0, 0.0))
    ref, result = await dispatcher.complete(CHAIN, REQUEST)
    assert (ref.provider, result.text, a.calls) == ("b", "from b", 1)


async def test_connection_errors_are_retried_then_reported() -> None:
    a = ScriptedProvider("a", [ProviderError("refused") for _ in range(3)])
    dispatcher = Dispatcher({"a": a}, Breakers(5, 60), attempts=3, max_wait=1, backoff=(0.0, 0.0))
    with pytest.raises(UpstreamFailed):
        await dispatcher.complete(CHAIN[:1], REQUEST)
    assert a.calls == 3


async def test_a_provider_without_a_gating_transport_is_called_only_once_admitted() -> None:
    a = ScriptedProvider("a", [])
    dispatcher = Dispatcher({"a": a}, Breakers(5, 60), attempts=2, max_wait=1, backoff=(0.0, 0.0))
    admission: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    call = asyncio.ensure_future(dispatcher.complete(CHAIN[:1], REQUEST, admission))
    await asyncio.sleep(0.01)
    assert a.calls == 0, "not before admission"
    admission.set_result(None)
    ref, _ = await call
    assert (ref.provider, a.calls) == ("a", 1)

    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    refused.set_exception(RateLimited("over the limit", retry_after=1))
    with pytest.raises(RateLimited):
        await dispatcher.complete(CHAIN[:1], REQUEST, refused)
    assert a.calls == 1, "a refused call reaches no provider"


async def test_a_refusal_while_the_request_was_built_is_raised_without_retry_or_fallback() -> None:
    # The gating transport refused to send (as providers/transport.py does): the SDK reports a connection error.
    a = ScriptedProvider("a", [ProviderError("not sent", status=None)], sends_wait_for_admission=True)
    b = ScriptedProvider("b", [])
    dispatcher = Dispatcher({"a": a, "b": b}, Breakers(5, 60), attempts=3, max_wait=1, backoff=(0.0, 0.0))
    pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # still under way when `a` is called

    async def fail_admission_while_sending(request: ChatRequest) -> ChatResult:
        a.calls += 1
        pending.set_exception(LedgerUnavailable("ledger away", retry_after=1))
        raise ProviderError("not sent", status=None)

    a.complete = fail_admission_while_sending  # type: ignore[method-assign]
    with pytest.raises(LedgerUnavailable):
        await dispatcher.complete(CHAIN, REQUEST, pending)
    assert (a.calls, b.calls) == (1, 0)


def test_openai_request_translation_keeps_tool_turns_and_names() -> None:
    body = convert(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "rules"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "stop": "END",
            "max_completion_tokens": 9,
        },
        ChatCompletionRequest,
    )
    request = openai_translate.to_chat_request(body)
    assert request.system == "rules"
    assert request.stop == ("END",)
    assert request.max_tokens == 9
    assert [m.role for m in request.messages] == ["user", "assistant", "tool"]
    assert request.messages[0].text == "ab"
    assert (request.messages[2].tool_call_id, request.messages[2].tool_name) == ("c1", "f")
    assert request.tool_choice is not None
    assert (request.tool_choice.mode, request.tool_choice.name) == ("tool", "f")


def test_anthropic_request_translation_splits_tool_results_from_text() -> None:
    body = convert(
        {
            "model": "m",
            "max_tokens": 5,
            "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "let me"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "ok"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "and?"},
                    ],
                },
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
        MessagesRequest,
    )
    request = anthropic_translate.to_chat_request(body)
    assert request.system == "sys"
    assert request.parallel_tool_calls is False
    assert request.tool_choice is not None
    assert request.tool_choice.mode == "required"
    assert [m.role for m in request.messages] == ["user", "assistant", "tool", "user"]
    tool = request.messages[2]
    assert (tool.text, tool.is_error, tool.tool_name) == ("ok", True, "f")
    assert request.messages[1].tool_calls[0].arguments == '{"x": 1}'


def test_anthropic_event_writer_closes_blocks_and_reports_usage() -> None:
    from ai_gateway.chat.types import ToolCallDelta, ToolCallStart

    writer = anthropic_translate.EventWriter("id", "m")
    out = b"".join(
        writer.frames(e)
        for e in [
            TextDelta("hi"),
            ToolCallStart(0, "t", "f"),
            ToolCallDelta(0, '{"a"'),
            ToolCallDelta(0, ":1}"),
            StreamEnd("tool_calls", Usage(5, 2, 1)),
        ]
    ).decode()
    names = [line.removeprefix("event: ") for line in out.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert '"stop_reason":"tool_use"' in out
    assert '"input_tokens":4,"output_tokens":2,"cache_read_input_tokens":1' in out


def test_settings_refuse_bad_json() -> None:
    with pytest.raises(SettingsError, match="MODEL_ALIASES"):
        load_settings(AiSettings, {"MODEL_ALIASES": "[1, 2]"})
    assert load_settings(AiSettings, {}).aliases() == {}
