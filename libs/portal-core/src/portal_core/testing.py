"""Test support shared by every suite: in-memory telemetry, free ports, an ASGI app served in a thread.

OpenTelemetry's providers are process-global, so suites that each installed their own would see
whichever came first. Every conftest calls `install_test_telemetry()` and reads from what it returns.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from portal_core.settings import BaseSettings
from portal_core.telemetry import setup_telemetry


@dataclass(frozen=True)
class TestTelemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    span_processor: SimpleSpanProcessor

    def metric_total(self, name: str, **attributes: str) -> float:
        """Sum of counter `name` over the data points whose attributes include `attributes`."""
        return float(sum(point.value for point in self._points(name, attributes)))

    def histogram_count(self, name: str, **attributes: str) -> int:
        """How many measurements histogram `name` took over the points whose attributes include `attributes`."""
        return int(sum(point.count for point in self._points(name, attributes)))

    def _points(self, name: str, attributes: dict[str, str]) -> Iterator[Any]:
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            labels = point.attributes or {}
                            if all(labels.get(k) == v for k, v in attributes.items()):
                                yield point


_spans = InMemorySpanExporter()
_installed = TestTelemetry(_spans, InMemoryMetricReader(), SimpleSpanProcessor(_spans))


def install_test_telemetry() -> TestTelemetry:
    """Install (once) the process's telemetry with in-memory span and metric exporters."""
    setup_telemetry(
        "portal-tests",
        BaseSettings(environment="test", log_level="DEBUG"),
        span_processors=[_installed.span_processor],
        metric_readers=[_installed.metrics],
    )
    return _installed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections while the block runs: bound, so no other process (nor an
    outgoing connection's ephemeral port) can take it, but not listening. A port from `free_port()` is
    released at once, and a server started meanwhile could answer on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def answer_lifespan(receive: Any, send: Any) -> None:
    """The lifespan protocol for a raw ASGI stand-in with nothing to start or stop (test upstreams, fakes)."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


class ThreadServer:
    """uvicorn serving an ASGI app on a free loopback port in a background thread (its own event loop),
    so a synchronous test, or one on another loop, talks to it over real HTTP: `with ThreadServer(app) as s:`."""

    def __init__(self, app: Any, *, ws: str = "websockets-sansio", start_timeout: float = 30.0) -> None:
        import uvicorn  # a dev dependency: only test processes import this

        from portal_core.uvicorn_http import CoalescingHttpToolsProtocol

        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws=ws,
            http=CoalescingHttpToolsProtocol,  # as portal_core.server runs uvicorn
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self._start_timeout = start_timeout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
