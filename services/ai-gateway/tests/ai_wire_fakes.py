"""Local servers that speak each provider's real wire protocol (JSON and SSE), for the real SDKs to call.

Each answers from the request: tools offered and no tool result yet -> a call to the first tool with
TOOL_ARGUMENTS (streamed as several argument deltas where the provider does that); a tool result last ->
"Result received: <result>"; otherwise "Hello from <provider>". Tests can queue failures and ask for a
slow stream, and read what each server received and whether a stream was cut by its client.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from portal_core.testing import answer_lifespan

TOOL_ARGUMENTS = {"city": "Paris", "unit": "celsius"}
USAGE_IN, USAGE_OUT, USAGE_CACHED = 11, 7, 3
SLOW_WORDS = 400


@dataclass
class Failure:
    status: int
    retry_after: str | None


class WireFake:
    name = "fake"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._failures: deque[Failure] = deque()
        self.slow_stream = False
        self.hang_seconds = 0.0  # wait this long before answering (timeouts)
        self.break_stream_after: int | None = None  # drop the connection after this many frames
        self.stream_cut = threading.Event()  # the client went away before the stream ended
        self.streams_finished = 0

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        self._failures.extend(Failure(status, retry_after) for _ in range(times))

    def reset(self) -> None:
        self.requests.clear()
        self.headers.clear()
        self._failures.clear()
        self.slow_stream = False
        self.hang_seconds = 0.0
        self.break_stream_after = None
        self.stream_cut.clear()
        self.streams_finished = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw) if raw else {}
        self.requests.append({"path": scope["path"], "query": scope["query_string"].decode(), "body": body})
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        if self.hang_seconds:
            await asyncio.sleep(self.hang_seconds)
        if self._failures:
            failure = self._failures.popleft()
            headers = [(b"retry-after", failure.retry_after.encode())] if failure.retry_after else []
            await send_json(send, failure.status, self.error_body(failure.status), headers)
            return
        await self.handle(scope, body, receive, send)

    async def handle(self, scope: dict[str, Any], body: dict[str, Any], receive: Any, send: Any) -> None:
        raise NotImplementedError

    def error_body(self, status: int) -> dict[str, Any]:
        raise NotImplementedError

    async def stream(self, send: Any, receive: Any, frames: list[bytes], slow_frame: Any = None) -> None:
        """Send SSE frames; in slow mode, many more spaced out, noting whether the client left first."""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            if self.slow_stream and slow_frame is not None:
                head, tail = frames[:1], frames[1:]
                frames = head + [slow_frame(n) for n in range(SLOW_WORDS)] + tail
            for sent, frame in enumerate(frames):
                if sent == self.break_stream_after:
                    raise ConnectionAbortedError("the fake provider drops the stream")  # uvicorn closes the socket
                if gone.is_set():
                    self.stream_cut.set()
                    return
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                await asyncio.sleep(0.02 if self.slow_stream else 0)
            await send({"type": "http.response.body", "body": b""})
            self.streams_finished += 1
        finally:
            watcher.cancel()


async def send_json(send: Any, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def sse(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


def split3(text: str) -> list[str]:
    third = max(1, len(text) // 3)
    return [text[:third], text[third : 2 * third], text[2 * third :]]


# ---------------------------------------------------------------- OpenAI Chat Completions


class OpenAIWire(WireFake):
    name = "openai"

    def error_body(self, status: int) -> dict[str, Any]:
        kind = "rate_limit_error" if status == 429 else "server_error"
        return {"error": {"message": f"fake failure {status}", "type": kind, "param": None, "code": None}}

    async def handle(self, scope: dict[str, Any], body: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["path"] == "/v1/chat/completions", scope["path"]
        messages = body["messages"]
        tool_name = body["tools"][0]["function"]["name"] if body.get("tools") else None
        last = messages[-1]
        text, call = None, None
        if last["role"] == "tool":
            text = f"Result received: {last['content']}"
        elif tool_name and body.get("tool_choice") != "none":
            call = {"id": "call_oa_1", "name": tool_name, "arguments": json.dumps(TOOL_ARGUMENTS)}
        else:
            text = "Hello from openai"
        usage = {
            "prompt_tokens": USAGE_IN,
            "completion_tokens": USAGE_OUT,
            "total_tokens": USAGE_IN + USAGE_OUT,
            "prompt_tokens_details": {"cached_tokens": USAGE_CACHED},
        }
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body["model"]}
        finish = "tool_calls" if call else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if call:
                fn = {"name": call["name"], "arguments": call["arguments"]}
                message["tool_calls"] = [{"id": call["id"], "type": "function", "function": fn}]
            choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            await send_json(send, 200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})
            return

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return sse({**base, "object": "chat.completion.chunk", "choices": [choice]})

        frames = [chunk({"role": "assistant", "content": ""})]
        if call:
            start = {
                "index": 0,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            frames.append(chunk({"tool_calls": [start]}))
            for piece in split3(call["arguments"]):
                frames.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        else:
            frames += [chunk({"content": word}) for word in _words(text or "")]
        frames.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            frames.append(sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        frames.append(b"data: [DONE]\n\n")
        await self.stream(send, receive, frames, lambda n: chunk({"content": f" w{n}"}))


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])]


# ---------------------------------------------------------------- Anthropic Messages


class AnthropicWire(WireFake):
    name = "anthropic"

    def error_body(self, status: int) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"fake failure {status}"}}

    async def handle(self, scope: dict[str, Any], body: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["path"] == "/v1/messages", scope["path"]
        last = body["messages"][-1]
        blocks = last["content"] if isinstance(last["content"], list) else []
        result = next((b for b in blocks if b.get("type") == "tool_result"), None)
        tool_name = body["tools"][0]["name"] if body.get("tools") else None
        text, call = None, None
        if result is not None:
            content = result["content"]
            text = f"Result received: {content if isinstance(content, str) else content[0]['text']}"
        elif tool_name and (body.get("tool_choice") or {}).get("type") != "none":
            call = {"id": "toolu_fake_1", "name": tool_name, "input": TOOL_ARGUMENTS}
        else:
            text = "Hello from anthropic"
        usage = {
            "input_tokens": USAGE_IN - USAGE_CACHED,
            "output_tokens": USAGE_OUT,
            "cache_read_input_tokens": USAGE_CACHED,
        }
        stop = "tool_use" if call else "end_turn"
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"]}
        if not body.get("stream"):
            content_out: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            if call:
                content_out.append({"type": "tool_use", **call})
            full = {**message, "content": content_out, "stop_reason": stop, "stop_sequence": None, "usage": usage}
            await send_json(send, 200, full)
            return
        start_usage = {**usage, "output_tokens": 1}
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
        frames = [sse({"type": "message_start", "message": start}, "message_start")]
        if call:
            block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
            frames.append(
                sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
            )
            for piece in split3(json.dumps(call["input"])):
                delta = {"type": "input_json_delta", "partial_json": piece}
                frames.append(sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"))
        else:
            block = {"type": "text", "text": ""}
            frames.append(
                sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
            )
            for word in _words(text or ""):
                delta = {"type": "text_delta", "text": word}
                frames.append(sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"))
        tail = [sse({"type": "content_block_stop", "index": 0}, "content_block_stop")]
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": USAGE_OUT},
        }
        tail += [sse(end, "message_delta"), sse({"type": "message_stop"}, "message_stop")]

        def slow(n: int) -> bytes:
            delta = {"type": "text_delta", "text": f" w{n}"}
            return sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")

        await self.stream(send, receive, frames + tail, slow)


# ---------------------------------------------------------------- Gemini generateContent


class GeminiWire(WireFake):
    name = "gemini"

    def error_body(self, status: int) -> dict[str, Any]:
        label = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
        return {"error": {"code": status, "message": f"fake failure {status}", "status": label}}

    async def handle(self, scope: dict[str, Any], body: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope["path"]
        version, _, rest = path.removeprefix("/").partition("/models/")
        assert version in ("v1", "v1beta"), path
        assert rest, path
        model, _, method = rest.partition(":")
        last_parts = body["contents"][-1]["parts"]
        result = next((field(p, "functionResponse") for p in last_parts if field(p, "functionResponse")), None)
        declarations = field((body.get("tools") or [{}])[0], "functionDeclarations") or []
        mode = field(field(body, "toolConfig") or {}, "functionCallingConfig", {}).get("mode")
        text, call = None, None
        if result is not None:
            text = f"Result received: {json.dumps(result['response'], sort_keys=True)}"
        elif declarations and mode != "NONE":
            call = {"name": declarations[0]["name"], "args": TOOL_ARGUMENTS, "id": "gem_call_1"}
        else:
            text = "Hello from gemini"
        usage = {
            "promptTokenCount": USAGE_IN,
            "candidatesTokenCount": USAGE_OUT,
            "totalTokenCount": USAGE_IN + USAGE_OUT,
            "cachedContentTokenCount": USAGE_CACHED,
        }

        def response(parts: list[dict[str, Any]], finish: str | None, with_usage: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
            if with_usage:
                out["usageMetadata"] = usage
            return out

        parts = [{"functionCall": call}] if call else [{"text": text}]
        if method == "generateContent":
            await send_json(send, 200, response(parts, "STOP", True))
            return
        assert method == "streamGenerateContent", method
        if call:
            frames = [sse(response(parts, "STOP", True))]
        else:
            words = _words(text or "")
            frames = [sse(response([{"text": w}], None, False)) for w in words[:-1]]
            frames.append(sse(response([{"text": words[-1]}], "STOP", True)))
        await self.stream(send, receive, frames, lambda n: sse(response([{"text": f" w{n}"}], None, False)))


def field(message: dict[str, Any], camel: str, default: Any = None) -> Any:
    """A protobuf JSON field: parsers accept lowerCamelCase and the original snake_case name alike."""
    if camel in message:
        return message[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return message.get(snake, default)
