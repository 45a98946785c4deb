"""HTTP routes of uploads: /api/storage/v1/uploads."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from portal_core.http import CallerIdentity, require_user

from storage.context import StorageContext
from storage.idempotency import run_once
from storage.openapi import PROBLEMS
from storage.uploads import completion, service
from storage.uploads.schemas import PartList, PartUrls, PartUrlsRequest, UploadCreate, UploadRead

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="a retry with the same key gets the first answer",
    ),
]
Ctx = NamedDependency[StorageContext]
Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
Cursor = Annotated[str | None, QueryParameter(max_length=4096, description="`next_cursor` of the previous page")]


@post("/", responses=PROBLEMS, status_code=HTTP_201_CREATED, summary="Start an upload")
async def create_upload(
    data: JSONBody[UploadCreate], identity: CallerIdentity, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> UploadRead:
    """Reserve the path and quota and answer how to send the bytes: a presigned POST form
    (S3 enforces key, exact size, content type, SHA-256 and expiry) or a multipart upload."""
    caller = require_user(identity)
    assert caller.tenant_id is not None
    return await run_once(
        ctx, caller.tenant_id, idempotency_key, "uploads.create", data, UploadRead,
        lambda: service.create(ctx, caller, data),
    )  # fmt: skip


@get("/{upload_id:uuid}", responses=PROBLEMS, summary="Read an upload's status")
async def read_upload(upload_id: FromPath[UUID], identity: CallerIdentity, ctx: Ctx) -> UploadRead:
    return await service.get(ctx, require_user(identity), upload_id)


@post("/{upload_id:uuid}/post-form", responses=PROBLEMS, status_code=HTTP_200_OK, summary="A fresh presigned POST form")
async def renew_post_form(
    upload_id: FromPath[UUID],
    identity: CallerIdentity,
    ctx: Ctx,
    expires_in: Annotated[int | None, QueryParameter(ge=1, le=86_400, description="capped by the server")] = None,
) -> UploadRead:
    """For a pending `post` upload whose form expired or whose transfer was dropped: the same policy, renewed."""
    return await service.renew_post_form(ctx, require_user(identity), upload_id, expires_in)


@post(
    "/{upload_id:uuid}/part-urls",
    responses=PROBLEMS,
    status_code=HTTP_200_OK,
    summary="Presigned URLs for multipart parts",
)
async def create_part_urls(
    upload_id: FromPath[UUID], data: JSONBody[PartUrlsRequest], identity: CallerIdentity, ctx: Ctx
) -> PartUrls:
    return await service.part_urls(ctx, require_user(identity), upload_id, data)


@get("/{upload_id:uuid}/parts", responses=PROBLEMS, summary="Parts already uploaded (to resume)")
async def list_parts(
    upload_id: FromPath[UUID], identity: CallerIdentity, ctx: Ctx, limit: Limit = 1000, cursor: Cursor = None
) -> PartList:
    return await service.list_parts(ctx, require_user(identity), upload_id, limit, cursor)


@post(
    "/{upload_id:uuid}/complete",
    responses=PROBLEMS,
    status_code=HTTP_200_OK,
    summary="Verify the bytes and mark the object ready",
)
async def complete_upload(upload_id: FromPath[UUID], identity: CallerIdentity, ctx: Ctx) -> UploadRead:
    """Checks in S3 that the object exists with the declared size and SHA-256 before it becomes `ready`."""
    return await completion.complete(ctx, require_user(identity), upload_id)


@delete("/{upload_id:uuid}", responses=PROBLEMS, status_code=HTTP_204_NO_CONTENT, summary="Abort an upload")
async def abort_upload(upload_id: FromPath[UUID], identity: CallerIdentity, ctx: Ctx) -> None:
    await service.abort(ctx, require_user(identity), upload_id)


router = Router(
    path="/api/storage/v1/uploads",
    route_handlers=[
        create_upload,
        read_upload,
        renew_post_form,
        create_part_urls,
        list_parts,
        complete_upload,
        abort_upload,
    ],
    tags=["uploads"],
)
