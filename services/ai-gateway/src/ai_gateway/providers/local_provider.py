"""The built-in `local` provider: deterministic, no network, so `make dev` and e2e tests run without keys.

It echoes the last user message; offered tools (and a tool choice that allows it) get one call to the
first allowed tool with `{"input": <last user text>}`; after a tool result it answers with that result.
Token counts are words, so tests can predict them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from ai_gateway.chat.types import (
    ChatRequest,
    ChatResult,
    Message,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    last_user_text,
)


class LocalProvider:
    name = "local"
    sends_wait_for_admission = False  # no transport: the dispatcher waits for the call's admission first
    models = ("echo",)

    def __init__(self, chunk_delay_seconds: float = 0.0) -> None:
        self._delay = chunk_delay_seconds

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> ChatResult:
        call = _tool_call(request)
        text = "" if call else _answer(request.messages)
        return ChatResult(
            text=text,
            tool_calls=(call,) if call else (),
            finish_reason="tool_calls" if call else "stop",
            usage=_usage(request, text or (call.arguments if call else "")),
            model=request.model,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        result = await self.complete(request)
        for call in result.tool_calls:
            yield ToolCallStart(0, call.id, call.name)
            for n in range(0, len(call.arguments), 8):  # argument deltas, as real providers send them
                yield ToolCallDelta(0, call.arguments[n : n + 8])
        for n, word in enumerate(result.text.split(" ")):
            if self._delay:
                await asyncio.sleep(self._delay)
            yield TextDelta(word if n == 0 else " " + word)
        yield StreamEnd(result.finish_reason, result.usage)


def _tool_call(request: ChatRequest) -> ToolCall | None:
    choice = request.tool_choice
    if not request.tools or (choice is not None and choice.mode == "none"):
        return None
    if request.messages and request.messages[-1].role == "tool":
        return None
    name = choice.name if choice is not None and choice.mode == "tool" and choice.name else request.tools[0].name
    arguments = json.dumps({"input": last_user_text(request.messages)})
    return ToolCall(id=f"call_local_{len(request.messages)}", name=name, arguments=arguments)


def _answer(messages: tuple[Message, ...]) -> str:
    if messages and messages[-1].role == "tool":
        return f"The tool said: {messages[-1].text}"
    return f"echo: {last_user_text(messages)}"


def _usage(request: ChatRequest, output: str) -> Usage:
    prompt_words = sum(len(m.text.split()) for m in request.messages) + len(request.system.split())
    return Usage(input_tokens=prompt_words, output_tokens=len(output.split()))
