"""start_span: an SDK span when spans are exported, else only the work's place in the trace."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry import propagate, trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, TraceFlags
from portal_core import telemetry
from portal_core.testing import install_test_telemetry

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def serve(traceparent: str | None) -> Span:
    """The span a request with this `traceparent` (or none) gets."""
    carrier = {"traceparent": traceparent} if traceparent else {}
    return telemetry.start_span(trace.get_tracer("t"), "GET", context=propagate.extract(carrier), kind=SpanKind.SERVER)


@pytest.fixture
def unexported(monkeypatch: pytest.MonkeyPatch) -> None:
    install_test_telemetry()  # the process's providers, with an exporter
    assert telemetry._installed is not None
    monkeypatch.setattr(telemetry, "_installed", dataclasses.replace(telemetry._installed, exports_spans=False))


def test_exported_spans_are_sdk_spans() -> None:
    installed = install_test_telemetry()
    serve(CALLER).end()
    finished = installed.spans.get_finished_spans()[-1]
    assert format(finished.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert finished.parent is not None
    assert format(finished.parent.span_id, "016x") == "b7ad6b7169203331"


@pytest.mark.usefixtures("unexported")
def test_unexported_span_continues_the_callers_trace_without_building_a_span() -> None:
    span = serve(CALLER)
    assert isinstance(span, NonRecordingSpan)
    context = span.get_span_context()
    assert format(context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(context.span_id, "016x") != "b7ad6b7169203331"  # its own span id, for logs and children
    assert context.trace_flags == TraceFlags.SAMPLED  # the services downstream still record and export it
    unsampled = serve(CALLER[:-2] + "00")
    assert unsampled.get_span_context().trace_flags == TraceFlags.DEFAULT  # the caller's decision holds


@pytest.mark.usefixtures("unexported")
def test_unexported_root_span_starts_a_trace_with_the_samplers_decision() -> None:
    first, second = serve(None), serve(None)
    assert first.get_span_context().is_valid
    assert first.get_span_context().trace_id != second.get_span_context().trace_id
    assert first.get_span_context().trace_flags == TraceFlags.SAMPLED  # the default sampler: always on
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(first))
    assert carrier["traceparent"].endswith("-01")
