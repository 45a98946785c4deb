"""Response shapes of the compatible routes, for the OpenAPI document only (the handlers write bytes).

Kept short: the authoritative references are OpenAI's and Anthropic's own API documents.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec


class OpenAIErrorBody(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(msgspec.Struct):
    error: OpenAIErrorBody


class AnthropicErrorBody(msgspec.Struct):
    type: str
    message: str


class AnthropicError(msgspec.Struct):
    type: str
    error: AnthropicErrorBody


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionMessage(msgspec.Struct):
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class CompletionChoice(msgspec.Struct):
    index: int
    message: CompletionMessage
    finish_reason: str


class ChatCompletion(msgspec.Struct):
    """`stream: false`. With `stream: true`: `text/event-stream` of `chat.completion.chunk` objects."""

    id: str
    object: str
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage


class MessageUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0


class AnthropicMessage(msgspec.Struct):
    """`stream: false`. With `stream: true`: `text/event-stream` of message_start ... message_stop events."""

    id: str
    type: str
    role: str
    model: str
    content: list[dict[str, Any]]
    stop_reason: str
    usage: MessageUsage


_ERROR_STATUSES = {
    400: "Invalid request",
    401: "No valid identity assertion",
    403: "The tenant may not use this model",
    404: "Unknown model",
    429: "A per-minute limit or the tenant's budget is spent (see Retry-After)",
    502: "Every candidate model failed",
    503: "The provider is overloaded",
    504: "The provider did not answer in time",
}


def _errors(shape: type[msgspec.Struct]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=shape, description=text, generate_examples=False)
        for status, text in _ERROR_STATUSES.items()
    }


OPENAI_RESPONSES = {
    200: ResponseSpec(data_container=ChatCompletion, description="The completion (or an SSE stream)"),
    **_errors(OpenAIError),
}
ANTHROPIC_RESPONSES = {
    200: ResponseSpec(data_container=AnthropicMessage, description="The message (or an SSE stream)"),
    **_errors(AnthropicError),
}
