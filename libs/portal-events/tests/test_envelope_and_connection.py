"""The CloudEvents headers as other languages will read them, and the NATS readiness check."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from events_support import order_placed_type
from portal_contracts import spec_for
from portal_core.telemetry import tracer
from portal_core.test_infra import nats_url
from portal_events import MalformedEvent, check_nats_ready, connect_nats, decode_event
from portal_events.envelope import build_headers, encode_data


def test_headers_follow_the_cloudevents_binary_binding() -> None:
    data_type = order_placed_type("envelope-test")
    spec = spec_for("portal.envelope-test.order.placed.v1")
    event_id = uuid.uuid4()
    with tracer("test").start_as_current_span("request") as span:
        headers = build_headers(spec, event_id, time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), entity_id="o-9")

    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == headers["Nats-Msg-Id"] == str(event_id)
    assert headers["ce-source"] == "/portal/envelope-test"
    assert headers["ce-type"] == spec.subject
    assert headers["ce-time"] == "2025-01-02T03:04:05.000000Z"
    assert headers["ce-subject"] == "o-9"
    assert "ce-tenant" not in headers
    assert headers["content-type"] == "application/json"
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert re.fullmatch(rf"00-{trace_id}-[0-9a-f]{{16}}-0[0-9a-f]", headers["traceparent"])

    body = encode_data(data_type(order_id="o-9", amount=3))
    assert msgspec.json.decode(body) == {"order_id": "o-9", "amount": 3}
    received = decode_event(spec.subject, headers, body)
    assert (received.id, received.entity_id, received.data) == (event_id, "o-9", data_type(order_id="o-9", amount=3))


@pytest.mark.parametrize(
    ("change", "body"),
    [
        ({"ce-id": None}, b'{"order_id": "x", "amount": 1}'),
        ({"ce-id": "not-a-uuid"}, b'{"order_id": "x", "amount": 1}'),
        ({}, b'{"order_id": "x", "amount": "many"}'),
        ({"ce-type": "portal.nobody.thing.done.v1"}, b"{}"),
    ],
)
def test_invalid_messages_are_malformed(change: dict[str, str | None], body: bytes) -> None:
    order_placed_type("envelope-test")
    headers = build_headers(spec_for("portal.envelope-test.order.placed.v1"), uuid.uuid4(), time=datetime.now(UTC))
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value

    with pytest.raises(MalformedEvent):
        decode_event("portal.envelope-test.order.placed.v1", headers, body)


@pytest.mark.integration
async def test_nats_readiness_follows_the_connection() -> None:
    nc = await connect_nats(nats_url(), "readiness-test")
    assert await check_nats_ready(nc)
    await nc.close()
    assert not await check_nats_ready(nc)
