"""What every storage handler works with, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from portal_core.pagination import CursorCodec

from storage.s3 import ObjectStore
from storage.settings import StorageSettings


@dataclass(frozen=True)
class StorageContext:
    pool: asyncpg.Pool
    store: ObjectStore
    settings: StorageSettings
    cursors: CursorCodec

    def object_key(self, tenant_id: str, object_id: object) -> str:
        """The S3 key of an object: built from ids only, under the tenant's own prefix."""
        return f"{self.settings.storage_key_prefix}{tenant_id}/{object_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)
