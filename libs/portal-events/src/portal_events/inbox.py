"""The consumer inbox only has to remember an event while a duplicate of it can still arrive.

Duplicates come from redelivery (minutes: max_deliver x ack_wait) and from the relay re-publishing a
row it had published but not yet deleted when it crashed (as soon as the producer runs again), so a
week is far beyond both; older rows are deleted in small batches by the consumer itself.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from portal_db.migrations import validate_identifier

DEFAULT_INBOX_RETENTION = timedelta(days=7)


async def prune_inbox(
    pool: asyncpg.Pool, schema: str, consumer: str, older_than: timedelta, batch_size: int = 5_000
) -> int:
    """Delete `consumer`'s inbox rows received more than `older_than` ago; return how many went."""
    validate_identifier(schema)
    statement = (
        f"DELETE FROM {schema}.event_inbox WHERE ctid IN ("
        f"SELECT ctid FROM {schema}.event_inbox WHERE consumer = $1 AND received_at < now() - $2::interval LIMIT $3)"
    )
    total = 0
    while True:
        status = await pool.execute(statement, consumer, older_than, batch_size)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch_size:
            return total
