"""Anthropic Messages <-> the gateway's neutral chat types, plain and streaming."""

from __future__ import annotations

import json
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
from ai_gateway.compat.anthropic_schemas import (
    InputMessage,
    MessagesRequest,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from ai_gateway.compat.error_shapes import anthropic_error

_encoder = msgspec.json.Encoder()
_STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def to_chat_request(body: MessagesRequest) -> ChatRequest:
    messages: list[Message] = []
    names_by_call_id: dict[str, str] = {}
    for n, message in enumerate(body.messages):
        messages += _messages(message, n, names_by_call_id)
    system = body.system if isinstance(body.system, str) else "".join(b.text for b in body.system or ())
    choice = body.tool_choice
    return ChatRequest(
        model=body.model,
        messages=tuple(messages),
        system=system,
        tools=tuple(ToolSpec(t.name, t.description or "", t.input_schema) for t in body.tools or ()),
        tool_choice=_tool_choice(choice.type, choice.name) if choice is not None else None,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(body.stop_sequences or ()),
        parallel_tool_calls=False if choice is not None and choice.disable_parallel_tool_use else None,
    )


def _tool_choice(kind: str, name: str | None) -> ToolChoice:
    if kind == "tool":
        if not name:
            raise InvalidChatRequest("tool_choice of type 'tool' needs a name", param="tool_choice.name")
        return ToolChoice("tool", name)
    return ToolChoice({"any": "required"}.get(kind, kind))  # type: ignore[arg-type]


def _messages(message: InputMessage, n: int, names: dict[str, str]) -> list[Message]:
    """One Anthropic turn can hold tool results and text: tool results become tool turns, first."""
    if isinstance(message.content, str):
        return [Message(message.role, message.content)]
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for block in message.content:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            calls.append(ToolCall(block.id, block.name, json.dumps(block.input)))
            names[block.id] = block.name
        elif isinstance(block, ToolResultBlock):
            content = block.content if isinstance(block.content, str) else "".join(b.text for b in block.content or ())
            results.append(
                Message(
                    "tool",
                    content,
                    tool_call_id=block.tool_use_id,
                    tool_name=names.get(block.tool_use_id),
                    is_error=bool(block.is_error),
                )
            )
        else:
            raise InvalidChatRequest("Only text, tool_use and tool_result blocks are supported", param=f"messages.{n}")
    if message.role == "assistant":
        return [Message("assistant", "".join(texts), tool_calls=tuple(calls))]
    return [*results, *([Message("user", "".join(texts))] if texts or not results else [])]


def usage_body(usage: Usage) -> dict[str, int]:
    # Anthropic counts cache reads apart from input_tokens.
    return {
        "input_tokens": usage.input_tokens - usage.cached_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def message_body(call_id: str, model: str, result: ChatResult) -> bytes:
    content: list[dict[str, Any]] = [{"type": "text", "text": result.text}] if result.text else []
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)} for c in result.tool_calls
    ]
    return _encoder.encode(
        {
            "id": f"msg_{call_id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _STOP_REASON.get(result.finish_reason, "end_turn"),
            "stop_sequence": None,
            "usage": usage_body(result.usage),
        }
    )


def _input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


class EventWriter:
    """Turns neutral stream events into Anthropic SSE events (message_start ... message_stop)."""

    def __init__(self, call_id: str, model: str) -> None:
        self._call_id = call_id
        self._model = model
        self._started = False
        self._block = -1
        self._open: str | None = None  # "text" or "tool:<index>"

    def frames(self, event: StreamEvent) -> bytes:
        out = b""
        if not self._started:
            self._started = True
            message: dict[str, Any] = {
                "id": f"msg_{self._call_id}",
                "type": "message",
                "role": "assistant",
                "model": self._model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            out += _event("message_start", {"type": "message_start", "message": message})
        if isinstance(event, TextDelta):
            if self._open != "text":
                out += self._start_block("text", {"type": "text", "text": ""})
            delta = {"type": "text_delta", "text": event.text}
            out += _event("content_block_delta", {"type": "content_block_delta", "index": self._block, "delta": delta})
        elif isinstance(event, ToolCallStart):
            block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            out += self._start_block(f"tool:{event.index}", block)
        elif isinstance(event, ToolCallDelta):
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            out += _event("content_block_delta", {"type": "content_block_delta", "index": self._block, "delta": delta})
        elif isinstance(event, StreamEnd):
            out += self._close_block()
            stop = {"stop_reason": _STOP_REASON.get(event.finish_reason, "end_turn"), "stop_sequence": None}
            out += _event("message_delta", {"type": "message_delta", "delta": stop, "usage": usage_body(event.usage)})
            out += _event("message_stop", {"type": "message_stop"})
        return out

    def error(self, error: ChatError) -> bytes:
        return _event("error", anthropic_error(error))

    def _start_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._block += 1
        self._open = kind
        return out + _event(
            "content_block_start", {"type": "content_block_start", "index": self._block, "content_block": block}
        )

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._block})


def _event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encoder.encode(payload) + b"\n\n"
