"""Write an event to the outbox in the caller's transaction; the relay publishes it after commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from portal_contracts import EventData, spec_for, spec_of
from portal_core.ids import new_id
from portal_core.request_context import current_request
from portal_db import Connection
from portal_db.migrations import validate_identifier

from portal_events.envelope import EventOrigin, Outcome, build_headers, encode_data

_headers_encoder = msgspec.json.Encoder()


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes the relay of `schema`."""
    return f"portal_outbox_{schema}"


async def publish(
    conn: Connection,
    data: EventData,
    *,
    schema: str,
    subject: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    entity_id: str | uuid.UUID | None = None,
    actor_id: str | uuid.UUID | None = None,
    outcome: Outcome = "success",
) -> uuid.UUID:
    """Insert `data` into `<schema>.event_outbox` on `conn` (inside the caller's transaction) and return the event id.

    The subject defaults to the one `data`'s type is registered under. Nothing leaves until the transaction commits.
    Inside an HTTP request the event records the caller (actor, tenant, client IP, user agent, request id)
    unless `actor_id` / `tenant_id` say otherwise, e.g. the user a sign-in was for.
    """
    validate_identifier(schema)
    spec = spec_for(subject) if subject is not None else spec_of(type(data))
    if not isinstance(data, spec.data_type):
        raise TypeError(f"{spec.subject} carries {spec.data_type.__name__}, not {type(data).__name__}")
    event_id = new_id()
    request = current_request()
    if request is not None:
        actor_id = request.actor_id if actor_id is None else actor_id
        tenant_id = request.tenant_id if tenant_id is None else tenant_id
    origin = EventOrigin(
        actor_id=None if actor_id is None else str(actor_id),
        outcome=outcome,
        client_ip=request.client_ip if request else None,
        user_agent=request.user_agent if request else None,
        request_id=request.request_id if request else None,
    )
    headers = build_headers(
        spec,
        event_id,
        time=_now(),
        entity_id=None if entity_id is None else str(entity_id),
        tenant_id=None if tenant_id is None else str(tenant_id),
        origin=origin,
    )
    # headers go as text so this works with or without the pool's jsonb codec; NOTIFY is delivered at commit.
    await conn.execute(
        f"""
        WITH inserted AS (
            INSERT INTO {schema}.event_outbox (id, subject, headers, payload) VALUES ($1, $2, $3::text::jsonb, $4)
        )
        SELECT pg_notify($5, '')
        """,
        event_id,
        spec.subject,
        _headers_encoder.encode(headers).decode(),
        encode_data(data),
        notify_channel(schema),
    )
    return event_id


def _now() -> datetime:
    return datetime.now(UTC)
