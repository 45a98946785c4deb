"""The provider SDKs' HTTP transport: httpx2 builds each request, the house HTTP/1.1 client sends it.

The SDKs (openai, anthropic, google-genai) all speak httpx2 and take a client of ours. Under it their
default transport (aiohttp behind httpx2's adapter) was a fifth of an SDK call's CPU; `portal_core.upstream`
(the gateway proxy's client: asyncio's Protocol API and httptools) does the same exchange for less: an
openai SDK call to a local upstream took 1.30 ms p50 over aiohttp and 0.97 ms over this transport in one
run, and the AI gateway's CPU per call fell by about 0.1 ms (docs/ai-gateway.md). Everything above the
wire stays the SDK's and httpx2's: auth, headers, timeouts' meaning, decompression, SSE parsing, errors.

It also holds a call's first byte until the call is admitted (`admission_gate`): the SDK builds its request
while the call's start row commits, and nothing reaches the provider before that commit, so a crash from
then on is still settled (chat/service.py).

This client does not speak to proxies, so when the environment names a proxy for a provider's URL
(HTTPS_PROXY, ALL_PROXY, ... and NO_PROXY, read as httpx2 and urllib read them) the provider gets httpx2's
own transport, which does; such a provider is called only once its call is admitted.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

import httpx2
from portal_core.upstream import Origin, UpstreamError, UpstreamPool, UpstreamResponse, UpstreamTimeout

_admission: ContextVar[asyncio.Future[None] | None] = ContextVar("provider_admission", default=None)


class NotAdmitted(Exception):
    """The call was refused (rate limit, ledger) while its request was being built; nothing was sent."""


@contextmanager
def admission_gate(admission: asyncio.Future[None] | None) -> Iterator[None]:
    """Within this block, the house transport sends nothing before `admission` (if any) has succeeded."""
    token = _admission.set(admission)
    try:
        yield
    finally:
        _admission.reset(token)


class HouseTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport over `portal_core.upstream.UpstreamPool` (keep-alive, HTTP/1.1, TLS verified).

    Timeouts are the provider's, given here: connect, and read (for the answer's head, then each piece of
    its body, so a long stream that keeps sending is not cut).
    """

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool: UpstreamPool | None = None  # made on the first request, in the loop that serves it
        self._origins: dict[tuple[bytes, str, int | None], Origin] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._pool is None:
            self._pool = UpstreamPool(connect_timeout=self._connect_timeout, read_timeout=self._read_timeout)
        head, body = _request_head(request), _body_if_read(request)
        admission = _admission.get()
        if admission is not None:
            await asyncio.wait([admission])  # its failure is the caller's to raise (it also holds the future)
            if admission.cancelled() or admission.exception() is not None:
                raise NotAdmitted("the call was not admitted; nothing was sent")
        try:
            if body is not None:  # the SDKs' JSON bodies: head and body leave in one write
                answer = await self._pool.request(self._origin(request.url), head + body, replayable=False)
            else:
                chunked = "transfer-encoding" in request.headers
                stream = _aiter(request.stream)  # type: ignore[arg-type]
                answer = await self._pool.request(self._origin(request.url), head, stream, chunked=chunked)
        except UpstreamError as exc:
            raise _httpx_error(exc, request) from exc
        return httpx2.Response(
            answer.status,
            headers=answer.headers,
            stream=_AnswerBody(answer, request),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def _origin(self, url: httpx2.URL) -> Origin:
        key = (url.raw_scheme, url.host, url.port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = Origin.parse(f"{url.scheme}://{url.netloc.decode('ascii')}")
        return origin


class _AnswerBody(httpx2.AsyncByteStream):
    """The answer's body as httpx2 reads it; closing it early closes the connection (ends the upstream's work)."""

    def __init__(self, answer: UpstreamResponse, request: httpx2.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.chunks():
                yield chunk
        except UpstreamError as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._answer.release()


def provider_http_client(
    base_url: str, *, connect_timeout: float, read_timeout: float
) -> tuple[httpx2.AsyncClient, bool]:
    """The httpx2 client a provider SDK is given, and whether its sends wait for admission (`admission_gate`):
    this transport (yes), or httpx2's own where a proxy applies (no).

    The SDK's own defaults (its timeout object) come with the SDK client it is passed to; this sets what the
    SDKs' default clients set too: the timeout, following redirects, and (for httpx2's pool) their limits.
    """
    timeout = httpx2.Timeout(read_timeout, connect=connect_timeout)
    if _proxy_applies(base_url):  # trust_env: httpx2 sends through the proxy
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        return httpx2.AsyncClient(timeout=timeout, follow_redirects=True, limits=limits), False
    transport = HouseTransport(connect_timeout=connect_timeout, read_timeout=read_timeout)
    return httpx2.AsyncClient(transport=transport, timeout=timeout, follow_redirects=True), True


def _proxy_applies(url: str) -> bool:
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")  # NO_PROXY


def _request_head(request: httpx2.Request) -> bytes:
    lines = [b"%b %b HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines.extend(name + b": " + value for name, value in request.headers.raw)  # Host and length set by httpx2
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def _body_if_read(request: httpx2.Request) -> bytes | None:
    try:
        return request.content
    except httpx2.RequestNotRead:
        return None


async def _aiter(stream: httpx2.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


def _httpx_error(exc: UpstreamError, request: httpx2.Request) -> httpx2.TransportError:
    """What httpx2's own transport raises for the same failure; the SDKs map these to their connection errors."""
    if isinstance(exc, UpstreamTimeout):
        return httpx2.ReadTimeout(str(exc), request=request)
    return httpx2.ReadError(str(exc), request=request)
