"""Test support: one in-memory telemetry installation per test process, shared by every test suite.

OpenTelemetry's providers are process-global, so suites that each installed their own would see
whichever came first. Every conftest calls `install_test_telemetry()` and reads from what it returns.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

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
        data = self.metrics.get_metrics_data()
        total = 0.0
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        labels = point.attributes or {}
                        if all(labels.get(k) == v for k, v in attributes.items()):
                            total += point.value  # type: ignore[union-attr]
        return total


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
