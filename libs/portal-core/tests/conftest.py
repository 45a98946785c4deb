import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from portal_core.settings import BaseSettings
from portal_core.telemetry import setup_telemetry

_spans = InMemorySpanExporter()
setup_telemetry("portal-core-tests", BaseSettings(log_level="DEBUG"), span_processors=[SimpleSpanProcessor(_spans)])


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _spans.clear()
    return _spans
