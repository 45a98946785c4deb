"""Real servers on loopback: a test upstream and gateways (uvicorn in threads), real Redis."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from gateway.app import create_app
from gateway.settings import GatewaySettings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from portal_core.settings import load_settings
from portal_core.test_infra import redis_address, redis_env
from portal_core.testing import ThreadServer, answer_lifespan, install_test_telemetry, refusing_port

KEY_PREFIX = f"test:gateway:{uuid.uuid4().hex}:"
TELEMETRY = install_test_telemetry()
SPANS = TELEMETRY.spans


# ---- the test upstream: echoes requests, streams SSE, takes uploads, sleeps, echoes websockets ----
@dataclass
class UpstreamLog:
    """What the upstream saw, for tests to assert on (written by the server thread, read by tests)."""

    sse_produced: list[float] = field(default_factory=list)
    upload_first_chunk: dict[str, float] = field(default_factory=dict)
    upload_completed: dict[str, int] = field(default_factory=dict)
    websocket_closes: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


def create_upstream(log: UpstreamLog) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await websocket(scope, receive, send)
            return
        path: str = scope["path"]
        headers = [(k.decode(), v.decode("latin-1")) for k, v in scope["headers"]]
        request_id = dict(headers).get("x-request-id", "")
        if path.endswith("/sse"):
            await sse(send)
        elif path.endswith("/upload"):
            await upload(receive, send, request_id)
        elif path.endswith("/forbidden"):
            await respond(send, 403, {"code": "forbidden"})
        elif path.endswith("/slow"):
            await asyncio.sleep(3)
            await respond(send, 200, {"slow": True})
        else:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            seen = {
                "method": scope["method"],
                "path": path,
                "raw_path": scope["raw_path"].decode(),
                "query": scope["query_string"].decode(),
                "headers": headers,
                "body": body.decode("latin-1"),
            }
            log.requests.append(seen)
            status = 201 if scope["method"] == "POST" else 200
            await respond(send, status, seen, [(b"x-request-id", b"upstream-own-id"), (b"x-upstream", b"yes")])

    async def sse(send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for n in range(3):
            if n:
                await asyncio.sleep(0.4)
            log.sse_produced.append(time.monotonic())
            await send({"type": "http.response.body", "body": f"data: event {n}\n\n".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def upload(receive: Any, send: Any, request_id: str) -> None:
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk and request_id not in log.upload_first_chunk:
                log.upload_first_chunk[request_id] = time.monotonic()
            total += len(chunk)
            if not message.get("more_body"):
                break
        log.upload_completed[request_id] = total
        await respond(send, 200, {"received": total})

    async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        offered = scope.get("subprotocols") or []
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        await send({"type": "websocket.send", "text": json.dumps({"hello": headers})})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                log.websocket_closes.append(message.get("code", 1005))
                return
            if message.get("text") == "close-me":
                await send({"type": "websocket.close", "code": 4002, "reason": "bye"})
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})

    return app


async def respond(send: Any, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ---- servers ----


@dataclass
class Upstream:
    url: str
    log: UpstreamLog


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    log = UpstreamLog()
    with ThreadServer(create_upstream(log)) as server:
        yield Upstream(server.url, log)


@pytest.fixture(scope="session")
def refused_url() -> Iterator[str]:
    with refusing_port() as port:
        yield f"http://127.0.0.1:{port}"


def gateway_env(upstream: Upstream, refused_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test",
        "UPSTREAMS": json.dumps({"echo": upstream.url, "dead": refused_url}),
        "UPSTREAM_IDENTITY_URL": upstream.url,
        "UPSTREAM_TIMEOUT_SECONDS": "1",
        "CORS_ORIGINS": "https://app.example, https://admin.example",
        **redis_env(),
        "REDIS_KEY_PREFIX": KEY_PREFIX,
        "RATE_LIMIT_REQUESTS": "100000",
        "MAX_BODY_BYTES": str(64 * 1024 * 1024),
        # These tests exercise the proxy with an echo server standing in for identity: no session lookup.
        # Session authentication is tested with the real identity service in services/identity/tests.
        "SESSION_AUTH": "off",
    }
    env.update(overrides)
    return env


def start_gateway(env: dict[str, str], resolver: Any = None) -> ThreadServer:
    settings = load_settings(GatewaySettings, env)
    return ThreadServer(create_app(settings, resolver=resolver))


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span the gateways under test finished."""
    return SPANS


@pytest.fixture(scope="session")
def make_gateway(upstream: Upstream, refused_url: str) -> Callable[..., ThreadServer]:
    """Another gateway with some settings changed: `with make_gateway(REDIS_PORT="1") as server:`.

    `resolver=` replaces the session lookup (an IdentityResolver that names the caller).
    """

    def make(resolver: Any = None, **overrides: str) -> ThreadServer:
        return start_gateway(gateway_env(upstream, refused_url, **overrides), resolver)

    return make


@pytest.fixture(scope="session")
def gateway(upstream: Upstream, refused_url: str) -> Iterator[str]:
    """The gateway most tests use: generous limits, 1 s upstream timeout."""
    with start_gateway(gateway_env(upstream, refused_url)) as server:
        yield server.url


@pytest.fixture(scope="session")
def strict_gateway(upstream: Upstream, refused_url: str, gateway: str) -> Iterator[str]:
    """Tight limits (3 requests a minute, 1 MiB bodies); trusts 127.0.0.1 so each test picks its own client IP."""
    env = gateway_env(
        upstream,
        refused_url,
        RATE_LIMIT_REQUESTS="3",
        RATE_LIMIT_WINDOW_SECONDS="60",
        MAX_BODY_BYTES=str(1024 * 1024),
        TRUSTED_PROXIES="127.0.0.1",
    )
    with start_gateway(env) as server:
        yield server.url


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_keys() -> Iterator[None]:
    yield
    host, port = redis_address()
    client = redis.Redis(host=host, port=port)
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def client_ip() -> str:
    """A client IP of its own (sent as X-Forwarded-For to strict_gateway), so rate limit budgets never meet."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"
