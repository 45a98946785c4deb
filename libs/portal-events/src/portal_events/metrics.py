"""Instruments of the event pipeline, created once per process."""

from __future__ import annotations

from portal_core.telemetry import meter

_meter = meter("portal.events")

published = _meter.create_counter("events.published", description="Events the relay published to JetStream")
publish_failures = _meter.create_counter("events.publish.failures", description="Relay batches that failed")
outbox_lag = _meter.create_histogram(
    "events.outbox.lag", unit="s", description="Time from outbox insert to JetStream ack"
)
consumed = _meter.create_counter("events.consumed", description="Events handled by consumers, by outcome")
deadlettered = _meter.create_counter("events.deadlettered", description="Events parked on a dead-letter subject")
handle_duration = _meter.create_histogram(
    "events.handle.duration", unit="s", description="Duration of one consumer batch transaction"
)
