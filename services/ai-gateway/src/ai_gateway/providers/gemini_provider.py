"""Gemini through the official `google-genai` SDK (generateContent / streamGenerateContent)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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
from ai_gateway.providers.turns import alternating_turns

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
}
_MODE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


class GeminiProvider:
    name = "gemini"

    def __init__(self, api_key: str, base_url: str | None, timeout: float, connect_timeout: float) -> None:
        # The wire: providers/transport.py. The SDK leaves a client it was given open: aclose closes it.
        self._http, self.sends_wait_for_admission = provider_http_client(
            base_url or "https://generativelanguage.googleapis.com",
            connect_timeout=connect_timeout,
            read_timeout=timeout,
        )
        options = types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout * 1000),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # retries are ours, not the SDK's
            httpx_async_client=self._http,
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._http.aclose()

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            response = await self._client.aio.models.generate_content(
                model=request.model, contents=_contents(request.messages), config=_config(request)
            )
        except Exception as exc:
            raise _error(exc) from exc
        text, calls = "", []
        candidate = response.candidates[0] if response.candidates else None
        parts = candidate.content.parts if candidate and candidate.content and candidate.content.parts else []
        for n, part in enumerate(parts):
            if part.text and not part.thought:
                text += part.text
            if part.function_call is not None:
                calls.append(_call(part.function_call, n))
        return ChatResult(
            text=text,
            tool_calls=tuple(calls),
            finish_reason="tool_calls" if calls else _finish(candidate),
            usage=_usage(response.usage_metadata),
            model=response.model_version or request.model,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        try:
            upstream = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=_contents(request.messages), config=_config(request)
            )
        except Exception as exc:
            raise _error(exc) from exc
        usage, finish, calls = Usage(), "stop", 0
        try:
            async for chunk in upstream:
                if chunk.usage_metadata is not None:
                    usage = _usage(chunk.usage_metadata)
                candidate = chunk.candidates[0] if chunk.candidates else None
                for part in candidate.content.parts or [] if candidate and candidate.content else []:
                    if part.text and not part.thought:
                        yield TextDelta(part.text)
                    if part.function_call is not None:
                        # Gemini sends each call whole; clients still get OpenAI/Anthropic-style start + delta.
                        call = _call(part.function_call, calls)
                        yield ToolCallStart(calls, call.id, call.name)
                        yield ToolCallDelta(calls, call.arguments)
                        calls += 1
                if candidate is not None and candidate.finish_reason is not None:
                    finish = _finish(candidate)
        except Exception as exc:
            raise _error(exc) from exc
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]
        yield StreamEnd("tool_calls" if calls else finish, usage)  # type: ignore[arg-type]


def _config(request: ChatRequest) -> Any:  # a GenerateContentConfigDict
    config: dict[str, Any] = {}
    if request.system:
        config["system_instruction"] = request.system
    if request.tools:
        config["tools"] = [
            {
                "function_declarations": [
                    {"name": t.name, "description": t.description, "parameters_json_schema": t.parameters}
                    for t in request.tools
                ]
            }
        ]
    choice = request.tool_choice
    if choice is not None:
        calling: dict[str, Any] = {"mode": _MODE[choice.mode]}
        if choice.mode == "tool" and choice.name:
            calling["allowed_function_names"] = [choice.name]
        config["tool_config"] = {"function_calling_config": calling}
    if request.max_tokens is not None:
        config["max_output_tokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["top_p"] = request.top_p
    if request.stop:
        config["stop_sequences"] = list(request.stop)
    return config


def _contents(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Gemini roles are user/model; function responses ride in user turns, merged like Anthropic's."""
    return alternating_turns(messages, assistant_role="model", items_key="parts", items_of=_parts)


def _parts(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        try:
            result = json.loads(message.text)
        except ValueError:
            result = message.text
        response = result if isinstance(result, dict) else {"result": result}
        if message.is_error:
            response = {"error": result}
        return [{"function_response": {"id": message.tool_call_id, "name": message.tool_name, "response": response}}]
    parts: list[dict[str, Any]] = [{"text": message.text}] if message.text else []
    for call in message.tool_calls:
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            args = {}
        parts.append({"function_call": {"id": call.id, "name": call.name, "args": args}})
    return parts or [{"text": ""}]


def _call(call: types.FunctionCall, n: int) -> ToolCall:
    return ToolCall(id=call.id or f"call_{n}_{call.name}", name=call.name or "", arguments=json.dumps(call.args or {}))


def _finish(candidate: types.Candidate | None) -> FinishReason:
    reason = candidate.finish_reason if candidate is not None else None
    return _FINISH.get(str(reason.value) if reason is not None else "STOP", "stop")


def _usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if meta is None:
        return Usage()
    return Usage(
        input_tokens=meta.prompt_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
        cached_tokens=meta.cached_content_token_count or 0,
    )


def _error(exc: Exception) -> ProviderError:
    """The SDK raises APIError for answers; for the network it lets httpx2's errors through, so anything
    else counts as a failed connection."""
    if isinstance(exc, genai_errors.APIError):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return ProviderError(exc.message or str(exc), status=exc.code, retry_after=retry_after_seconds(headers))
    if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
        return ProviderError("Gemini did not answer in time", timeout=True)
    return ProviderError(f"Gemini could not be reached: {exc!r}")
