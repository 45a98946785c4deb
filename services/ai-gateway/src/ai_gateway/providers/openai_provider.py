"""OpenAI through the official `openai` SDK (Chat Completions).

The call goes through the SDK's own client (auth, timeouts, typed `openai.APIError`s, its SSE parser), by its
documented low-level `post` rather than `chat.completions.create`: `create` walks every parameter through a
TypedDict transform and builds pydantic models of every answer and chunk, which was about a third of the
gateway's CPU per call (cProfile, bench/ai_bench.py). Our parameters are plain JSON already, and answers are
decoded by msgspec into the few fields we read. Bodies are encoded by msgspec too, and passed as `content`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import openai

from ai_gateway.chat.types import (
    ChatRequest,
    ChatResult,
    FinishReason,
    Message,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from ai_gateway.providers.base import ProviderError, retry_after_seconds
from ai_gateway.providers.transport import provider_http_client

_FINISH: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

_DEFAULT_URL = "https://api.openai.com/v1"  # the SDK's own default base URL
_SECURITY: Any = {"security": {"bearer_auth": True}}  # what `create` asks of the SDK: the API key as a bearer token


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    index: int = 0
    id: str | None = None
    type: str | None = "function"
    function: _Function | None = None


class _Message(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    delta: _Message | None = None
    finish_reason: str | None = None


class _TokenDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _TokenDetails | None = None


class _Answer(msgspec.Struct):
    """A `chat.completion` or a `chat.completion.chunk`: only what the gateway reads."""

    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: _Usage | None = None
    model: str = ""


_decode_answer = msgspec.json.Decoder(_Answer)
_encode = msgspec.json.Encoder().encode  # the request body, sent as is (`content=`): msgspec, not the SDK's json


class OpenAIProvider:
    name = "openai"

    def __init__(self, api_key: str, base_url: str | None, timeout: float, connect_timeout: float) -> None:
        # Retries are ours (tenacity, with fallbacks and a breaker), so the SDK must not retry too. The wire is
        # the house HTTP/1.1 client under httpx2 (providers/transport.py).
        http, self.sends_wait_for_admission = provider_http_client(
            base_url or _DEFAULT_URL, connect_timeout=connect_timeout, read_timeout=timeout
        )
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            http_client=http,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            raw = await self._client.post(
                "/chat/completions", content=_encode(_params(request, stream=False)), cast_to=bytes, options=_SECURITY
            )
            response = _decode_answer.decode(raw)
        except openai.APIError as exc:
            raise _error(exc) from exc
        except msgspec.DecodeError as exc:  # not JSON, or not the shape of a completion (ValidationError)
            raise ProviderError(f"OpenAI sent an answer the gateway cannot read: {exc}", status=502) from exc
        if not response.choices or response.choices[0].message is None:
            raise ProviderError("OpenAI sent an answer without a message", status=502)
        choice, message = response.choices[0], response.choices[0].message
        calls = tuple(
            ToolCall(id=c.id or "", name=c.function.name or "", arguments=c.function.arguments or "{}")
            for c in message.tool_calls or ()
            if c.type == "function" and c.function is not None
        )
        return ChatResult(
            text=message.content or "",
            tool_calls=calls,
            finish_reason=_FINISH.get(choice.finish_reason, "stop"),
            usage=_usage(response.usage),
            model=response.model,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        try:
            # Chunks come back as the SDK's parsed JSON (`cast_to=object`), converted by msgspec below.
            upstream = await self._client.post(
                "/chat/completions",
                content=_encode({**_params(request, stream=True), "stream_options": {"include_usage": True}}),
                cast_to=object,
                options=_SECURITY,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
        except openai.APIError as exc:
            raise _error(exc) from exc
        finish: FinishReason = "stop"
        usage = Usage()
        started: set[int] = set()
        try:
            async for data in upstream:
                chunk = _chunk(data)
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices[:1]:
                    delta = choice.delta or _Message()
                    if delta.content:
                        yield TextDelta(delta.content)
                    for call in delta.tool_calls or ():
                        if call.index not in started and call.function is not None and call.function.name:
                            started.add(call.index)
                            yield ToolCallStart(call.index, call.id or f"call_{call.index}", call.function.name)
                        if call.function is not None and call.function.arguments:
                            yield ToolCallDelta(call.index, call.function.arguments)
                    if choice.finish_reason:
                        finish = _FINISH.get(choice.finish_reason, "stop")
        except openai.APIError as exc:
            raise _error(exc) from exc
        finally:
            await upstream.close()
        yield StreamEnd(finish, usage)


def _chunk(data: object) -> _Answer:
    try:
        return msgspec.convert(data, _Answer)
    except msgspec.ValidationError as exc:
        raise ProviderError(f"OpenAI sent a chunk the gateway cannot read: {exc}", status=502) from exc


def _params(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"model": request.model, "messages": _messages(request), "stream": stream}
    if request.tools:
        params["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        params["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}} if choice.mode == "tool" else choice.mode
        )
    if request.parallel_tool_calls is not None and request.tools:
        params["parallel_tool_calls"] = request.parallel_tool_calls
    for key in ("max_tokens", "temperature", "top_p"):
        value = getattr(request, key)
        if value is not None:
            params["max_completion_tokens" if key == "max_tokens" else key] = value
    if request.stop:
        params["stop"] = list(request.stop)
    return params


def _messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    out += [_message(m) for m in request.messages]
    return out


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.text or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.text}


def _usage(usage: _Usage | None) -> Usage:
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens if details else None) or 0
    return Usage(
        input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0, cached_tokens=cached
    )


def _error(exc: openai.APIError) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("OpenAI did not answer in time", timeout=True)
    if isinstance(exc, openai.APIStatusError):
        return ProviderError(
            _message_of(exc.body) or exc.message,
            status=exc.status_code,
            retry_after=retry_after_seconds(exc.response.headers),
        )
    return ProviderError(f"OpenAI could not be reached: {exc.message}")


def _message_of(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    if isinstance(body, str):
        try:
            return _message_of(json.loads(body))
        except ValueError:
            return body
    return None
