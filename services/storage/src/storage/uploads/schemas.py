"""Request and response bodies of the upload routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from storage.objects.schemas import ObjectRead, PathField

Sha256Hex = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$", description="lower-case hex SHA-256 of the bytes")]
ContentType = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=255,
        pattern=r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$",
        examples=["application/pdf"],
    ),
]
PartNumber = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
UploadMethod = Literal["post", "multipart"]
ExpiresIn = Annotated[int, msgspec.Meta(ge=1, le=86_400, description="URL lifetime in seconds, capped by the server")]


class UploadCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: PathField
    size: Annotated[int, msgspec.Meta(ge=0, le=5 * 1024**4, description="exact size in bytes")]
    content_type: ContentType
    sha256: Sha256Hex
    method: Annotated[
        Literal["auto", "post", "multipart"],
        msgspec.Meta(description="`auto` picks multipart above the configured threshold"),
    ] = "auto"
    part_size: Annotated[int, msgspec.Meta(ge=1, le=5 * 1024**3, description="multipart part size")] | None = None
    expires_in: ExpiresIn | None = None


class PostForm(msgspec.Struct, kw_only=True):
    """Send `fields` then the file as `multipart/form-data` (field `file` last) to `url`."""

    url: str
    fields: dict[str, str]


class UploadRead(msgspec.Struct, kw_only=True):
    id: Annotated[str, msgspec.Meta(description="the upload's id, which is also the object's id")]
    status: Literal["pending", "ready", "failed"]
    method: UploadMethod
    object: ObjectRead
    post: PostForm | None = None
    part_size: int | None = None
    part_count: int | None = None
    urls_expire_at: datetime | None = None
    upload_expires_at: datetime | None = None
    failure: str | None = None


class PartUrlsRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    part_numbers: Annotated[list[PartNumber], msgspec.Meta(min_length=1, max_length=1000)]
    expires_in: ExpiresIn | None = None


class PartUrl(msgspec.Struct, kw_only=True):
    part_number: int
    url: Annotated[str, msgspec.Meta(description="PUT the part's bytes here; keep the ETag answered")]


class PartUrls(msgspec.Struct, kw_only=True):
    items: list[PartUrl]
    expires_at: datetime


class PartRead(msgspec.Struct, kw_only=True):
    part_number: int
    size: int
    etag: str


class PartList(msgspec.Struct, kw_only=True):
    items: list[PartRead]
    next_cursor: str | None = None
