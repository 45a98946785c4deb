"""The hash chain: each record's hash covers the previous hash and every recorded field, exactly as stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

GENESIS = bytes(32)  # prev_hash of a chain's first record
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_encoder = msgspec.json.Encoder()


class RecordContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a record says. `seq` is not hashed: order is proven by each record naming its predecessor's hash."""

    id: str
    tenant_id: str
    action: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    outcome: str
    client_ip: str | None
    user_agent: str | None
    trace_id: str | None
    request_id: str | None
    source: str
    occurred_at: datetime
    received_at: datetime
    body: str


def _micros(moment: datetime) -> int:
    # Integer microseconds, the precision PostgreSQL keeps, so a value read back hashes the same.
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def record_hash(prev_hash: bytes, content: RecordContent) -> bytes:
    """sha256(prev_hash || canonical JSON array of the content fields)."""
    fields = [
        content.id,
        content.tenant_id,
        content.action,
        content.actor_id,
        content.target_type,
        content.target_id,
        content.outcome,
        content.client_ip,
        content.user_agent,
        content.trace_id,
        content.request_id,
        content.source,
        _micros(content.occurred_at),
        _micros(content.received_at),
        content.body,
    ]
    return hashlib.sha256(prev_hash + _encoder.encode(fields)).digest()
