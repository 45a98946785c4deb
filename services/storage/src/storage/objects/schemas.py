"""Request and response bodies of the object routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from storage.objects.repository import ObjectRow
from storage.paths import file_name

PathField = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=1024, description="display path inside the tenant", examples=["reports/2026/q1.pdf"]
    ),
]
ObjectStatus = Literal["pending", "ready", "failed"]


class ObjectRead(msgspec.Struct, kw_only=True):
    id: str
    path: str
    name: str
    size: int
    content_type: str
    sha256: Annotated[str, msgspec.Meta(description="hex SHA-256 (declared; verified once status is `ready`)")]
    owner_id: str
    status: ObjectStatus
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None = None
    copied_from: str | None = None

    @classmethod
    def of(cls, row: ObjectRow) -> ObjectRead:
        return cls(
            id=str(row.id),
            path=row.path,
            name=file_name(row.path),
            size=row.size,
            content_type=row.content_type,
            sha256=row.sha256,
            owner_id=row.owner_id,
            status=row.status,  # type: ignore[arg-type]
            created_at=row.created_at,
            updated_at=row.updated_at,
            ready_at=row.ready_at,
            copied_from=None if row.copied_from is None else str(row.copied_from),
        )


class ObjectList(msgspec.Struct, kw_only=True):
    items: list[ObjectRead]
    next_cursor: str | None = None


class ObjectUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[PathField, msgspec.Meta(description="new path: a rename, a move, or both")]


class ObjectCopy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[PathField, msgspec.Meta(description="path of the copy")]


class DownloadUrl(msgspec.Struct, kw_only=True):
    url: str
    expires_at: datetime


class FolderMove(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[PathField, msgspec.Meta(description="folder to move, e.g. `reports/2025`")]
    new_path: Annotated[PathField, msgspec.Meta(description="where it goes, e.g. `archive/2025`")]


class FolderResult(msgspec.Struct, kw_only=True):
    path: str
    objects: Annotated[int, msgspec.Meta(description="how many objects (ready or uploading) were affected")]


class Usage(msgspec.Struct, kw_only=True):
    used_bytes: Annotated[int, msgspec.Meta(description="ready objects plus uploads in progress")]
    quota_bytes: int
    max_upload_bytes: int
