"""Write an event to the outbox in the caller's transaction; the relay publishes it after commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event for `publish_many`: what `publish` takes besides the connection and the schema."""

    data: EventData
    subject: str | None = None
    tenant_id: str | uuid.UUID | None = None
    entity_id: str | uuid.UUID | None = None
    actor_id: str | uuid.UUID | None = None
    outcome: Outcome = "success"


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
    row = _outbox_row(Outgoing(data, subject, tenant_id, entity_id, actor_id, outcome))
    # headers go as text so this works with or without the pool's jsonb codec; NOTIFY is delivered at commit.
    await conn.execute(
        f"""
        WITH inserted AS (
            INSERT INTO {schema}.event_outbox (id, subject, headers, payload) VALUES ($1, $2, $3::text::jsonb, $4)
        )
        SELECT pg_notify($5, '')
        """,
        *row,
        notify_channel(schema),
    )
    return row[0]


async def publish_many(conn: Connection, events: Sequence[Outgoing], *, schema: str) -> list[uuid.UUID]:
    """`publish` for several events in one statement (one round trip, not one per event); their ids, in order.

    For a writer that has a batch at hand (the AI gateway's ledger records up to hundreds of calls at once).
    """
    validate_identifier(schema)
    if not events:
        return []
    rows = [_outbox_row(event) for event in events]
    await conn.execute(
        f"""
        WITH inserted AS (
            INSERT INTO {schema}.event_outbox (id, subject, headers, payload)
            SELECT id, subject, headers::jsonb, payload
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[]) AS e (id, subject, headers, payload)
        )
        SELECT pg_notify($5, '')
        """,
        [row[0] for row in rows],
        [row[1] for row in rows],
        [row[2] for row in rows],
        [row[3] for row in rows],
        notify_channel(schema),
    )
    return [row[0] for row in rows]


def _outbox_row(event: Outgoing) -> tuple[uuid.UUID, str, str, bytes]:
    """The outbox row of one event: id, subject, headers (JSON text) and payload."""
    spec = spec_for(event.subject) if event.subject is not None else spec_of(type(event.data))
    if not isinstance(event.data, spec.data_type):
        raise TypeError(f"{spec.subject} carries {spec.data_type.__name__}, not {type(event.data).__name__}")
    event_id = new_id()
    actor_id, tenant_id = event.actor_id, event.tenant_id
    request = current_request()
    if request is not None:
        actor_id = request.actor_id if actor_id is None else actor_id
        tenant_id = request.tenant_id if tenant_id is None else tenant_id
    origin = EventOrigin(
        actor_id=None if actor_id is None else str(actor_id),
        outcome=event.outcome,
        client_ip=request.client_ip if request else None,
        user_agent=request.user_agent if request else None,
        request_id=request.request_id if request else None,
    )
    headers = build_headers(
        spec,
        event_id,
        time=_now(),
        entity_id=None if event.entity_id is None else str(event.entity_id),
        tenant_id=None if tenant_id is None else str(tenant_id),
        origin=origin,
    )
    return event_id, spec.subject, _headers_encoder.encode(headers).decode(), encode_data(event.data)


def _now() -> datetime:
    return datetime.now(UTC)
