"""CloudEvents 1.0 in the NATS binary binding: `ce-*` headers, msgspec JSON body, W3C trace context."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from opentelemetry import propagate
from portal_contracts import EventData, EventSpec, spec_for

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
MSG_ID_HEADER = "Nats-Msg-Id"

_encoder = msgspec.json.Encoder()


class MalformedEvent(ValueError):
    """A message that is not a valid event of a registered type; it is dead-lettered, never retried."""


Outcome = Literal["success", "failure"]


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """Who caused an event and from where: CloudEvents extensions an audit trail needs.

    `actor` is the user who acted, `outcome` says whether what the event reports succeeded (a failed
    login is an event with outcome "failure"), the rest comes from the request that caused it.
    """

    actor_id: str | None = None
    outcome: Outcome = "success"
    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def headers(self) -> dict[str, str]:
        values = {
            "ce-actor": self.actor_id,
            "ce-outcome": self.outcome,
            "ce-clientip": self.client_ip,
            "ce-useragent": self.user_agent,
            "ce-requestid": self.request_id,
        }
        return {name: value for name, value in values.items() if value is not None}


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
    # The body as it arrived (appended with a default: code that builds ReceivedEvent itself still works).
    payload: bytes = b""

    @property
    def origin(self) -> EventOrigin:
        """Actor, outcome, client address, user agent and request id as the producer recorded them."""
        outcome: Outcome = "failure" if self.headers.get("ce-outcome") == "failure" else "success"
        return EventOrigin(
            actor_id=self.headers.get("ce-actor"),
            outcome=outcome,
            client_ip=self.headers.get("ce-clientip"),
            user_agent=self.headers.get("ce-useragent"),
            request_id=self.headers.get("ce-requestid"),
        )

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id of the trace that produced this event, if it carried one."""
        parts = self.headers.get("traceparent", "").split("-")
        return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


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
    origin: EventOrigin | None = None,
) -> dict[str, str]:
    """The NATS headers of one event, with the current trace context injected."""
    event_id_text = str(event_id)
    headers = {
        "ce-specversion": SPEC_VERSION,
        "ce-id": event_id_text,
        "ce-source": f"/portal/{spec.service}",
        "ce-type": spec.subject,
        "ce-time": format_time(time),
        "content-type": CONTENT_TYPE,
        MSG_ID_HEADER: event_id_text,
    }
    if entity_id is not None:
        headers["ce-subject"] = entity_id
    if tenant_id is not None:
        headers["ce-tenant"] = tenant_id
    if origin is not None:
        headers.update(origin.headers())
    propagate.inject(headers)
    return headers


@functools.cache
def _decoder(data_type: type[EventData]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(data_type)


class OpaqueEventData(EventData, kw_only=True, frozen=True):
    """The body of an event decoded by envelope only (`decode_envelope`): read `ReceivedEvent.payload`."""


OPAQUE = OpaqueEventData()

EventDecoder = Callable[[str, "dict[str, str] | None", bytes], ReceivedEvent]


def decode_envelope(subject: str, headers: dict[str, str] | None, payload: bytes) -> ReceivedEvent:
    """Decode only the CloudEvents attributes, whatever the type (registered or not); the body stays bytes.

    For consumers that record every event (audit) rather than act on known ones; MalformedEvent when the
    id or time header is missing or invalid.
    """
    headers = headers or {}
    try:
        event_id = uuid.UUID(headers["ce-id"])
        moment = datetime.fromisoformat(headers["ce-time"])
    except KeyError as exc:
        raise MalformedEvent(f"missing header: {exc}") from exc
    except ValueError as exc:
        raise MalformedEvent(str(exc)) from exc
    return ReceivedEvent(
        id=event_id,
        type=headers.get("ce-type", subject),
        source=headers.get("ce-source", ""),
        time=moment,
        tenant_id=headers.get("ce-tenant"),
        entity_id=headers.get("ce-subject"),
        data=OPAQUE,
        headers=headers,
        payload=payload,
    )


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
        payload=payload,
    )
