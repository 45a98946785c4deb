"""Deleting bytes after their metadata: the intent row is committed first and leaves last.

A crash after the commit leaves the intent (the job deletes the bytes); a crash after the bytes are
gone leaves the intent too (the job deletes again, which S3 treats as done, then drops the row).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from portal_core.logging import get_logger

from storage.faults import AFTER_BYTES_DELETE, AFTER_METADATA_DELETE, pause_point
from storage.housekeeping.repository import Deletion, DeletionRepository
from storage.s3 import ObjectStore
from storage.settings import StorageSettings

_log = get_logger("storage.deletion")


async def delete_bytes(pool: asyncpg.Pool, store: ObjectStore, settings: StorageSettings, keys: Sequence[str]) -> bool:
    """Carry out the committed deletion intents for `keys`; False (intents kept for the job) when S3 fails."""
    async with pool.acquire() as conn:
        intents = await DeletionRepository(conn).by_keys(list(keys))
    return await carry_out(pool, store, settings, intents)


async def carry_out(
    pool: asyncpg.Pool, store: ObjectStore, settings: StorageSettings, intents: Sequence[Deletion]
) -> bool:
    if not intents:
        return True
    keys = [intent.s3_key for intent in intents]
    await pause_point(settings, AFTER_METADATA_DELETE)
    try:
        for intent in intents:
            if intent.multipart_upload_id:
                await store.abort_multipart(intent.s3_key, intent.multipart_upload_id)
        await store.delete_keys(keys)
    except Exception as exc:  # the intents stay: housekeeping retries them
        _log.warning("deleting bytes failed", keys=len(keys), error=repr(exc))
        async with pool.acquire() as conn:
            await DeletionRepository(conn).count_attempt(keys)
        return False
    await pause_point(settings, AFTER_BYTES_DELETE)
    async with pool.acquire() as conn:
        await DeletionRepository(conn).finish(keys)
    return True
