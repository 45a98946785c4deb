"""Response helpers shared by both compatible APIs: JSON bodies, SSE streams, error handlers per shape."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, cast

import anyio
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send
from portal_core.errors import FieldError, MalformedBody, PortalError, ValidationFailed, error_for_status
from portal_core.http import outage_error
from portal_core.logging import get_logger

from ai_gateway.chat.errors import ChatError
from ai_gateway.chat.types import StreamEvent

_encoder = msgspec.json.Encoder()
_log = get_logger("ai.http")
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

Shape = Callable[[PortalError], dict[str, Any]]


def json_response(body: bytes, status: int = 200) -> Response[bytes]:
    return Response(body, status_code=status, media_type="application/json")


def sse_stream(
    events: AsyncIterator[StreamEvent],
    frames: Callable[[StreamEvent], bytes],
    error_frame: Callable[[ChatError], bytes],
) -> Stream:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in events:
                yield frames(event)
        except ChatError as error:
            yield error_frame(error)  # the status line is gone: the error rides in the stream, in the API's shape
        except Exception:
            _log.exception("stream failed")
            yield error_frame(ChatError("The model provider failed mid-stream"))
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    return ClosingStream(body(), media_type="text/event-stream", headers=SSE_HEADERS)


class ClosingStream(Stream):
    """A Stream that closes its generator in the request's own task when the response ends, however it
    ends. Litestar leaves a generator cut off by a client disconnect to the garbage collector, which
    closes it later from another task: the upstream call would linger, and its accounting would race."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        return cast(ASGIResponse, _Closing(super().to_asgi_response(*args, **kwargs)))


class _Closing:
    def __init__(self, inner: ASGIResponse) -> None:
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._inner(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                iterator = getattr(self._inner, "iterator", None)
                if isinstance(iterator, AsyncGenerator):
                    await iterator.aclose()


def error_handlers(shape: Shape) -> dict[type[Exception], Callable[[Request[Any, Any, Any], Any], Response[bytes]]]:
    """Litestar exception handlers that answer in `shape` instead of problem+json."""

    def render(error: PortalError) -> Response[bytes]:
        if error.status >= 500:
            _log.warning("request failed", error_code=error.code, detail=error.detail)
        return Response(
            _encoder.encode(shape(error)),
            status_code=error.status,
            media_type="application/json",
            headers=error.headers,
        )

    def on_portal_error(_: Request[Any, Any, Any], exc: PortalError) -> Response[bytes]:
        return render(exc)

    def on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
        if isinstance(exc, ValidationException):
            extras = exc.extra if isinstance(exc.extra, list) else []
            errors = [FieldError(field=str(e.get("key", "")), message=str(e.get("message", ""))) for e in extras]
            return render(ValidationFailed(exc.detail, errors=errors))
        if exc.status_code == 400:
            return render(MalformedBody(exc.detail))
        error = error_for_status(exc.status_code, exc.detail if exc.status_code < 500 else "")
        error.headers.update(exc.headers or {})
        return render(error)

    def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        if (outage := outage_error(request, exc)) is not None:
            return render(outage)
        _log.exception("unhandled error", path=request.url.path)
        return render(PortalError())

    return {PortalError: on_portal_error, HTTPException: on_http_exception, Exception: on_unexpected}
