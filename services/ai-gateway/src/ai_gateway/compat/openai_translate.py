"""OpenAI Chat Completions <-> the gateway's neutral chat types, plain and streaming."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ai_gateway.chat.errors import ChatError, InvalidChatRequest
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
    ToolChoice,
    ToolSpec,
    Usage,
)
from ai_gateway.compat.error_shapes import openai_error
from ai_gateway.compat.openai_schemas import ChatCompletionRequest, ChatMessage, NamedToolChoice

_encoder = msgspec.json.Encoder()
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def to_chat_request(body: ChatCompletionRequest) -> ChatRequest:
    system: list[str] = []
    messages: list[Message] = []
    names_by_call_id: dict[str, str] = {}
    for n, message in enumerate(body.messages):
        text = _text(message, n)
        if message.role in ("system", "developer"):
            system.append(text)
        elif message.role == "tool":
            if not message.tool_call_id:
                raise InvalidChatRequest("A tool message needs tool_call_id", param=f"messages[{n}].tool_call_id")
            name = names_by_call_id.get(message.tool_call_id)
            messages.append(Message("tool", text, tool_call_id=message.tool_call_id, tool_name=name))
        elif message.role == "assistant":
            calls = tuple(
                ToolCall(c.id, c.function.name, c.function.arguments or "{}") for c in message.tool_calls or ()
            )
            names_by_call_id.update({c.id: c.name for c in calls})
            messages.append(Message("assistant", text, tool_calls=calls))
        else:
            messages.append(Message("user", text))
    if not messages:
        raise InvalidChatRequest("At least one user message is needed", param="messages")
    return ChatRequest(
        model=body.model,
        messages=tuple(messages),
        system="\n\n".join(system),
        tools=tuple(
            ToolSpec(t.function.name, t.function.description or "", t.function.parameters or _EMPTY_SCHEMA)
            for t in body.tools or ()
        ),
        tool_choice=_tool_choice(body.tool_choice),
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=(body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ()),
        parallel_tool_calls=body.parallel_tool_calls,
    )


def _text(message: ChatMessage, n: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts: list[str] = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise InvalidChatRequest(
                f"Content parts of type '{part.type}' are not supported; send text", param=f"messages[{n}].content"
            )
        parts.append(part.text)
    return "".join(parts)


def _tool_choice(choice: str | NamedToolChoice | None) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, NamedToolChoice):
        return ToolChoice("tool", choice.function.name)
    return ToolChoice(choice)  # type: ignore[arg-type]


def completion_body(call_id: str, model: str, result: ChatResult) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in result.tool_calls
        ]
    return _encoder.encode(
        {
            "id": f"chatcmpl-{call_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": _finish(result.finish_reason), "logprobs": None}
            ],
            "usage": usage_body(result.usage),
        }
    )


def _finish(reason: str) -> str:
    return "stop" if reason == "error" else reason


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


class ChunkWriter:
    """Turns neutral stream events into OpenAI `chat.completion.chunk` SSE frames, ending with usage and [DONE]."""

    def __init__(self, call_id: str, model: str) -> None:
        self._base = {"id": f"chatcmpl-{call_id}", "object": "chat.completion.chunk", "created": int(time.time())}
        self._model = model
        self._started = False

    def frames(self, event: StreamEvent) -> bytes:
        out = b""
        if not self._started:
            self._started = True
            out += self._chunk({"role": "assistant", "content": ""})
        if isinstance(event, TextDelta):
            out += self._chunk({"content": event.text})
        elif isinstance(event, ToolCallStart):
            call = {"index": event.index, "id": event.id, "type": "function"}
            out += self._chunk({"tool_calls": [{**call, "function": {"name": event.name, "arguments": ""}}]})
        elif isinstance(event, ToolCallDelta):
            out += self._chunk({"tool_calls": [{"index": event.index, "function": {"arguments": event.arguments}}]})
        elif isinstance(event, StreamEnd):
            out += self._chunk({}, _finish(event.finish_reason))
            out += _frame({**self._base, "model": self._model, "choices": [], "usage": usage_body(event.usage)})
            out += b"data: [DONE]\n\n"
        return out

    def error(self, error: ChatError) -> bytes:
        return _frame(openai_error(error))

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _frame({**self._base, "model": self._model, "choices": [choice]})


def _frame(payload: Any) -> bytes:
    return b"data: " + _encoder.encode(payload) + b"\n\n"
