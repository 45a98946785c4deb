"""HTTP routes of objects, folders and usage: /api/storage/v1/..."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from portal_core.http import CallerIdentity, require_user

from storage.idempotency import run_once
from storage.objects import service
from storage.objects.schemas import (
    DownloadUrl,
    FolderMove,
    FolderResult,
    ObjectCopy,
    ObjectList,
    ObjectRead,
    ObjectUpdate,
    Usage,
)
from storage.openapi import PROBLEMS
from storage.uploads.endpoints import Ctx, Cursor, IdempotencyKey, Limit


@get("/objects", responses=PROBLEMS, summary="List ready objects by path prefix")
async def list_objects(
    identity: CallerIdentity,
    ctx: Ctx,
    prefix: Annotated[str, QueryParameter(max_length=1024, description="e.g. `reports/` (empty: everything)")] = "",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ObjectList:
    return await service.list_objects(ctx, require_user(identity), prefix, limit, cursor)


@get("/objects/{object_id:uuid}", responses=PROBLEMS, summary="Read an object's metadata")
async def read_object(object_id: FromPath[UUID], identity: CallerIdentity, ctx: Ctx) -> ObjectRead:
    return ObjectRead.of(await service.get_ready(ctx, require_user(identity), object_id))


@patch("/objects/{object_id:uuid}", responses=PROBLEMS, summary="Rename or move an object")
async def update_object(
    object_id: FromPath[UUID], data: JSONBody[ObjectUpdate], identity: CallerIdentity, ctx: Ctx
) -> ObjectRead:
    return await service.rename(ctx, require_user(identity), object_id, data.path)


@delete("/objects/{object_id:uuid}", responses=PROBLEMS, status_code=HTTP_204_NO_CONTENT, summary="Delete an object")
async def delete_object(object_id: FromPath[UUID], identity: CallerIdentity, ctx: Ctx) -> None:
    await service.delete(ctx, require_user(identity), object_id)


@post("/objects/{object_id:uuid}/copies", responses=PROBLEMS, status_code=HTTP_201_CREATED, summary="Copy an object")
async def copy_object(
    object_id: FromPath[UUID],
    data: JSONBody[ObjectCopy],
    identity: CallerIdentity,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> ObjectRead:
    caller = require_user(identity)
    assert caller.tenant_id is not None
    route = f"objects.copy:{object_id}"
    return await run_once(
        ctx, caller.tenant_id, idempotency_key, route, data, ObjectRead,
        lambda: service.copy(ctx, caller, object_id, data.path),
    )  # fmt: skip


@get("/objects/{object_id:uuid}/download-url", responses=PROBLEMS, summary="A short-lived presigned download URL")
async def download_url(
    object_id: FromPath[UUID],
    identity: CallerIdentity,
    ctx: Ctx,
    disposition: FromQuery[Literal["attachment", "inline"]] = "attachment",
    expires_in: Annotated[int | None, QueryParameter(ge=1, le=86_400, description="capped by the server")] = None,
) -> DownloadUrl:
    """Issued only after the same tenant check as every route; the URL names the object's own key."""
    return await service.download_url(ctx, require_user(identity), object_id, disposition, expires_in)


@post("/folders/move", responses=PROBLEMS, status_code=HTTP_200_OK, summary="Move or rename a folder")
async def move_folder(data: JSONBody[FolderMove], identity: CallerIdentity, ctx: Ctx) -> FolderResult:
    return await service.move_folder(ctx, require_user(identity), data.path, data.new_path)


@delete("/folders", responses=PROBLEMS, status_code=HTTP_200_OK, summary="Delete a folder and everything in it")
async def delete_folder(
    identity: CallerIdentity,
    ctx: Ctx,
    path: Annotated[str, QueryParameter(min_length=1, max_length=1024, description="folder, e.g. `reports/2025`")],
) -> FolderResult:
    return await service.delete_folder(ctx, require_user(identity), path)


@get("/usage", responses=PROBLEMS, summary="The tenant's usage and limits")
async def read_usage(identity: CallerIdentity, ctx: Ctx) -> Usage:
    return await service.usage(ctx, require_user(identity))


router = Router(
    path="/api/storage/v1",
    route_handlers=[
        list_objects,
        read_object,
        update_object,
        delete_object,
        copy_object,
        download_url,
        move_folder,
        delete_folder,
        read_usage,
    ],
    tags=["objects"],
)
