"""OpenTelemetry traces, metrics and logs: OTLP when configured, Prometheus /metrics always."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from portal_core.logging import configure_logging
from portal_core.settings import BaseSettings


@dataclass
class Telemetry:
    """What setup_telemetry installed; call shutdown() last thing on exit to flush exporters."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    log_handlers: list[logging.Handler] = field(default_factory=list)
    span_processors: list[SpanProcessor] = field(default_factory=list)
    exports_spans: bool = False  # an OTLP exporter or a test's processor receives finished spans

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        for handler in self.log_handlers:
            handler.close()


_installed: Telemetry | None = None


def setup_telemetry(
    service: str,
    settings: BaseSettings,
    *,
    span_processors: list[SpanProcessor] | None = None,
    metric_readers: list[MetricReader] | None = None,
) -> Telemetry:
    """Install the process-wide providers once and configure logging.

    OpenTelemetry providers are global and set once per process: a later call returns the first
    installation, adding any span processor it brings that is not there yet (tests add exporters).
    """
    global _installed
    if _installed is not None:
        for processor in span_processors or []:
            if processor not in _installed.span_processors:
                _installed.tracer_provider.add_span_processor(processor)
                _installed.span_processors.append(processor)
                _installed.exports_spans = True
        return _installed
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "parametric-portal",
            "deployment.environment": settings.environment,
            **({"service.instance.id": settings.service_instance_id} if settings.service_instance_id else {}),
        }
    )
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = [PrometheusMetricReader(), *(metric_readers or [])]
    handlers: list[logging.Handler] = []
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint:
        handlers.append(_add_otlp(tracer_provider, readers, resource, endpoint.rstrip("/")))
    for processor in span_processors or []:
        tracer_provider.add_span_processor(processor)
    # No exemplars: sampling one per measurement was a tenth of the gateway's CPU, and nothing reads them.
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, exemplar_filter=AlwaysOffExemplarFilter())
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    configure_logging(service, settings.log_level, extra_handlers=handlers)
    _installed = Telemetry(
        tracer_provider, meter_provider, handlers, list(span_processors or []), bool(endpoint or span_processors)
    )
    return _installed


_ids = RandomIdGenerator()


def start_span(
    tracer: trace.Tracer,
    name: str,
    *,
    context: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, str] | None = None,
) -> trace.Span:
    """A span on the hot paths (each request served, each event consumed), child of `context`'s span.

    When nothing receives finished spans (no OTLP endpoint: `make dev`, benchmarks) the span is not
    built: building and ending an SDK span that no processor will see was a quarter of the gateway's
    CPU per request. The work still gets its own span id in the caller's trace (or a new trace), with
    the configured sampler's decision, so log lines carry trace and span ids and the services it calls
    continue the same trace, exporting it if they are configured to.
    """
    installed = _installed
    if installed is None or installed.exports_spans:
        return tracer.start_span(name, context=context, kind=kind, attributes=attributes)
    caller = trace.get_current_span(context).get_span_context()
    if caller.is_valid:
        trace_id, trace_state = caller.trace_id, caller.trace_state
    else:
        trace_id, trace_state = _ids.generate_trace_id(), None
    sampled = installed.tracer_provider.sampler.should_sample(context, trace_id, name, kind)
    flags = TraceFlags(TraceFlags.SAMPLED if sampled.decision is Decision.RECORD_AND_SAMPLE else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(trace_id, _ids.generate_span_id(), False, flags, trace_state))


def _add_otlp(
    tracer_provider: TracerProvider, readers: list[MetricReader], resource: Resource, endpoint: str
) -> logging.Handler:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    from portal_core.otlp_logs import StructlogOtlpHandler

    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"), 10_000))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    set_logger_provider(logger_provider)
    return StructlogOtlpHandler(logger_provider=logger_provider)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def meter(name: str) -> metrics.Meter:
    return metrics.get_meter(name)
