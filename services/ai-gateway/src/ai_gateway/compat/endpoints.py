"""The compatible routes: OpenAI `/chat/completions` and `/models`, Anthropic `/messages`.

They answer errors in their API's own shape (the SDKs parse it), not the house problem+json.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, Router, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.response import Stream
from portal_core.http import CallerIdentity, require_user

from ai_gateway.chat.service import ChatService
from ai_gateway.compat import anthropic_translate, openai_translate
from ai_gateway.compat.anthropic_schemas import MessagesRequest
from ai_gateway.compat.error_shapes import anthropic_error, openai_error
from ai_gateway.compat.openai_schemas import ChatCompletionRequest, ModelEntry, ModelList
from ai_gateway.compat.openapi_docs import ANTHROPIC_RESPONSES, OPENAI_RESPONSES
from ai_gateway.compat.responses import error_handlers, json_response, sse_stream


@post(
    "/chat/completions",
    summary="Create a chat completion (OpenAI-compatible)",
    description="OpenAI Chat Completions: `stream: true` answers Server-Sent Events of `chat.completion.chunk`, "
    'ending with a usage chunk and `[DONE]`. Errors use OpenAI\'s `{"error": {...}}` shape.',
    status_code=200,
    responses=OPENAI_RESPONSES,
)
async def chat_completions(
    data: JSONBody[ChatCompletionRequest], identity: CallerIdentity, state: State
) -> Response[Any]:
    caller = require_user(identity)
    chat: ChatService = state.chat
    request = openai_translate.to_chat_request(data)
    call = await chat.admit(caller, data.model, "chat.completions", bool(data.stream), request)
    if data.stream:
        ref, events = await chat.open_stream(call, request)
        writer = openai_translate.ChunkWriter(call.id, ref.qualified)
        return sse_stream(events, writer.frames, writer.error)
    ref, result = await chat.complete(call, request)
    return json_response(openai_translate.completion_body(call.id, ref.qualified, result))


@get("/models", summary="List the models this gateway offers (OpenAI-compatible)")
async def list_models(identity: CallerIdentity, state: State) -> ModelList:
    require_user(identity)
    names: list[str] = state.catalog.listed()
    return ModelList(data=[ModelEntry(id=name, owned_by=name.partition("/")[0] or "alias") for name in names])


@post(
    "/messages",
    summary="Create a message (Anthropic-compatible)",
    description="Anthropic Messages: `stream: true` answers Server-Sent Events (message_start ... message_stop). "
    'Errors use Anthropic\'s `{"type": "error", "error": {...}}` shape.',
    status_code=200,
    responses=ANTHROPIC_RESPONSES,
)
async def messages(data: JSONBody[MessagesRequest], identity: CallerIdentity, state: State) -> Response[Any] | Stream:
    caller = require_user(identity)
    chat: ChatService = state.chat
    request = anthropic_translate.to_chat_request(data)
    call = await chat.admit(caller, data.model, "messages", bool(data.stream), request)
    if data.stream:
        ref, events = await chat.open_stream(call, request)
        writer = anthropic_translate.EventWriter(call.id, ref.qualified)
        return sse_stream(events, writer.frames, writer.error)
    ref, result = await chat.complete(call, request)
    return json_response(anthropic_translate.message_body(call.id, ref.qualified, result))


openai_router = Router(
    path="/api/ai/v1",
    route_handlers=[chat_completions, list_models],
    exception_handlers=error_handlers(openai_error),  # type: ignore[arg-type]
    tags=["OpenAI-compatible"],
)
anthropic_router = Router(
    path="/api/ai/v1",
    route_handlers=[messages],
    exception_handlers=error_handlers(anthropic_error),  # type: ignore[arg-type]
    tags=["Anthropic-compatible"],
)
