"""The gateway's own shape of a chat call, between the two client APIs and the three provider APIs.

Each compatible API translates into these types and back; each provider translates them to its wire
format. Keeping one neutral shape means N + M translations instead of N x M.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the arguments


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(frozen=True)
class Message:
    """One turn. `tool` turns carry the result of the call named by `tool_call_id`."""

    role: Role
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None  # Gemini addresses tool results by function name
    is_error: bool = False


@dataclass(frozen=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    model: str  # the provider's own model name (after alias and prefix resolution)
    messages: tuple[Message, ...]
    system: str = ""
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    parallel_tool_calls: bool | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ChatResult:
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage
    model: str


# ---- stream events: what every provider stream is turned into ----


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON arguments


@dataclass(frozen=True)
class StreamEnd:
    finish_reason: FinishReason
    usage: Usage = field(default_factory=Usage)


StreamEvent = TextDelta | ToolCallStart | ToolCallDelta | StreamEnd


def last_user_text(messages: tuple[Message, ...]) -> str:
    for message in reversed(messages):
        if message.role == "user" and message.text:
            return message.text
    return ""


def approximate_tokens(text: str) -> int:
    """~4 characters a token: used only when a provider never reported usage (a stream cut short)."""
    return (len(text) + 3) // 4
