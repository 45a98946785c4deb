"""Append records to their tenants' chains (one batch, one transaction) and sign each moved head."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from portal_db import Connection

from audit.chain import repository
from audit.chain.hashing import RecordContent, record_hash
from audit.chain.signing import HeadSigner

CHECKPOINT = "checkpoint"
ANCHOR = "anchor"


async def append(conn: Connection, contents: Sequence[RecordContent], signer: HeadSigner) -> None:
    """Chain `contents` in the given order after each tenant's head, COPY them in, move and sign the heads."""
    if not contents:
        return
    heads = await repository.lock_heads(conn, [c.tenant_id for c in contents])
    rows: list[tuple[Any, ...]] = []
    for content in contents:
        seq, prev = heads[content.tenant_id]
        seq += 1
        digest = record_hash(prev, content)
        heads[content.tenant_id] = (seq, digest)
        rows.append(
            (
                content.tenant_id,
                seq,
                uuid.UUID(content.id),
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
                content.occurred_at,
                content.received_at,
                content.body,
                prev,
                digest,
            )
        )
    await repository.append_records(conn, rows)
    await repository.move_heads(conn, heads)
    now = datetime.now(UTC)
    signed = [signer.sign(CHECKPOINT, tenant, seq, digest, now) for tenant, (seq, digest) in heads.items()]
    await repository.insert_signed(conn, "checkpoints", signed)
