import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from portal_core.testing import install_test_telemetry

_telemetry = install_test_telemetry()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _telemetry.spans.clear()
    return _telemetry.spans
