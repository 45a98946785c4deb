"""The batch handler: a fetched batch of events becomes chained audit records in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from portal_db import Connection
from portal_events import ReceivedEvent

from audit.chain import repository
from audit.chain import service as chain
from audit.chain.signing import HeadSigner
from audit.ingest.mapping import to_record

RecordBatch = Callable[[Connection, Sequence[ReceivedEvent]], Awaitable[None]]


def batch_recorder(signer: HeadSigner) -> RecordBatch:
    """The EventConsumer batch handler: record every new event of the batch, in delivery order."""

    async def record(conn: Connection, events: Sequence[ReceivedEvent]) -> None:
        received_at = datetime.now(UTC)
        # The inbox dedupes per stream; an event id met in another stream too is recorded once, not failed.
        seen = await repository.recorded_ids(conn, [event.id for event in events])
        fresh = [event for event in events if event.id not in seen]
        await chain.append(conn, [to_record(event, received_at) for event in fresh], signer)

    return record
