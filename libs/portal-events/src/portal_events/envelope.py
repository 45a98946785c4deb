"""CloudEvents 1.0 in the NATS binary binding: `ce-*` headers, msgspec JSON body, W3C trace context."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from opentelemetry import propagate
from portal_contracts import EventData, EventSpec, spec_for

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
MSG_ID_HEADER = "Nats-Msg-Id"

_encoder = msgspec.json.Encoder()


class MalformedEvent(ValueError):
    """A message that is not a valid event of a registered type; it is dead-lettered, never retried."""


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event as a consumer handler sees it: envelope attributes plus the decoded body."""

    id: uuid.UUID
    type: str
    source: str
    time: datetime
    tenant_id: str | None
    entity_id: str | None
    data: EventData
    headers: dict[str, str]


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as CloudEvents `time` wants it."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_data(data: EventData) -> bytes:
    """The message body: the event struct as JSON."""
    return _encoder.encode(data)


def build_headers(
    spec: EventSpec,
    event_id: uuid.UUID,
    *,
    time: datetime,
    entity_id: str | None = None,
    tenant_id: str | None = None,
) -> dict[str, str]:
    """The NATS headers of one event, with the current trace context injected."""
    headers = {
        "ce-specversion": SPEC_VERSION,
        "ce-id": str(event_id),
        "ce-source": f"/portal/{spec.service}",
        "ce-type": spec.subject,
        "ce-time": format_time(time),
        "content-type": CONTENT_TYPE,
        MSG_ID_HEADER: str(event_id),
    }
    if entity_id is not None:
        headers["ce-subject"] = entity_id
    if tenant_id is not None:
        headers["ce-tenant"] = tenant_id
    propagate.inject(headers)
    return headers


@functools.cache
def _decoder(data_type: type[EventData]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(data_type)


def decode_event(subject: str, headers: dict[str, str] | None, payload: bytes) -> ReceivedEvent:
    """Decode a message into a ReceivedEvent using the contract registered for its type; MalformedEvent if invalid."""
    headers = headers or {}
    event_type = headers.get("ce-type", subject)
    try:
        event_id = uuid.UUID(headers["ce-id"])
        spec = spec_for(event_type)
        moment = datetime.fromisoformat(headers["ce-time"])
        data = _decoder(spec.data_type).decode(payload)
    except KeyError as exc:
        raise MalformedEvent(f"missing header or unknown event type: {exc}") from exc
    except (ValueError, msgspec.DecodeError) as exc:
        raise MalformedEvent(str(exc)) from exc
    return ReceivedEvent(
        id=event_id,
        type=event_type,
        source=headers.get("ce-source", ""),
        time=moment,
        tenant_id=headers.get("ce-tenant"),
        entity_id=headers.get("ce-subject"),
        data=data,
        headers=headers,
    )
