"""From a received event (any type, registered or not) to the content of an audit record."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import msgspec
from portal_contracts.base import SUBJECT_PATTERN
from portal_events import ReceivedEvent

from audit.chain.hashing import RecordContent
from audit.ingest.redaction import redact

NO_TENANT = ""  # the chain of events that carry no tenant
_encoder = msgspec.json.Encoder(order="sorted")
_MAX_TEXT = 2048


def _text(value: str | None, limit: int = _MAX_TEXT) -> str | None:
    # PostgreSQL text cannot hold NUL; headers are bounded anyway but a producer may be careless.
    return None if value is None else value.replace("\x00", "")[:limit]


def canonical_body(payload: bytes) -> str:
    """The body as canonical JSON (sorted keys) with secrets masked; a body that is not JSON is kept as base64."""
    try:
        decoded = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return _encoder.encode({"undecodable_base64": base64.b64encode(payload).decode()}).decode()
    return _encoder.encode(redact(decoded)).decode().replace("\\u0000", "")


def target_type(event_type: str) -> str | None:
    """The entity part of `portal.<service>.<entity>.<action>.v<n>`, qualified by the service."""
    match = SUBJECT_PATTERN.match(event_type)
    return f"{match.group('service')}.{match.group('entity')}" if match else None


def to_record(event: ReceivedEvent, received_at: datetime) -> RecordContent:
    origin = event.origin
    return RecordContent(
        id=str(event.id),
        tenant_id=_text(event.tenant_id, 200) or NO_TENANT,
        action=_text(event.type, 300) or "",
        actor_id=_text(origin.actor_id, 200),
        target_type=target_type(event.type),
        target_id=_text(event.entity_id, 1000),
        outcome=origin.outcome,
        client_ip=_text(origin.client_ip, 100),
        user_agent=_text(origin.user_agent, 512),
        trace_id=event.trace_id,
        request_id=_text(origin.request_id, 200),
        source=_text(event.source, 300) or "",
        occurred_at=event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC),
        received_at=received_at,
        body=canonical_body(event.payload),
    )
