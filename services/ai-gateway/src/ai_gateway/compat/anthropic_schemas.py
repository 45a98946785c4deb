"""Anthropic Messages request types (what the Anthropic SDKs send). Unknown fields are ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class ImageBlock(msgspec.Struct, tag_field="type", tag="image"):
    source: dict[str, Any] | None = None


class DocumentBlock(msgspec.Struct, tag_field="type", tag="document"):
    source: dict[str, Any] | None = None


class ToolUseBlock(msgspec.Struct, tag_field="type", tag="tool_use"):
    id: Name
    name: Name
    input: dict[str, Any] = {}


class ToolResultBlock(msgspec.Struct, tag_field="type", tag="tool_result"):
    tool_use_id: Name
    content: str | list[TextBlock] | None = None
    is_error: bool | None = None


ContentBlock = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock


class InputMessage(msgspec.Struct):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ToolDefinition(msgspec.Struct):
    name: Name
    input_schema: dict[str, Any]
    description: str | None = None


class ToolChoiceParam(msgspec.Struct):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class MessagesRequest(msgspec.Struct):
    model: Name
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    messages: Annotated[list[InputMessage], msgspec.Meta(min_length=1, max_length=10_000)]
    system: str | list[TextBlock] | None = None
    tools: Annotated[list[ToolDefinition], msgspec.Meta(max_length=512)] | None = None
    tool_choice: ToolChoiceParam | None = None
    stream: bool | None = False
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0)] | None = None
    stop_sequences: Annotated[list[str], msgspec.Meta(max_length=16)] | None = None
    metadata: dict[str, Any] | None = None
