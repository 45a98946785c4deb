"""The S3 side, through aiobotocore: presigned POST/part/GET URLs, multipart, checks, copies, deletes."""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import aiohttp
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import StoreUnavailable
from storage.settings import GIB, StorageSettings

MAX_SINGLE_COPY_BYTES = 5 * GIB
_COPY_PART_BYTES = 512 * 1024 * 1024


class UploadGone(Exception):
    """The multipart upload no longer exists in S3 (completed, aborted or expired)."""


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class Head:
    size: int
    sha256_b64: str | None  # what S3 verified at upload, when the store records it


P = ParamSpec("P")
R = TypeVar("R")


def _store_call(call: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """An S3 failure (unreachable, timed out, refused) surfaces as a 502 problem, not an internal error."""

    @functools.wraps(call)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await call(*args, **kwargs)
        except (BotoCoreError, ClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"The object store failed: {type(exc).__name__}") from exc

    return guarded


def sha256_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _config(endpoint: str | None) -> Config:
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint else "auto"},
        # Checksums are chosen per request here; botocore's defaults add a CRC some S3 servers refuse.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=32,
    )


class ObjectStore:
    """One bucket. `open()` builds the clients; presigned URLs name `storage_public_endpoint` when set."""

    def __init__(self, settings: StorageSettings) -> None:
        self._settings = settings
        self.bucket = settings.storage_bucket
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._signer: Any = None
        self._http: aiohttp.ClientSession

    async def open(self) -> ObjectStore:
        s, session = self._settings, get_session()
        common = {
            "region_name": s.storage_region,
            "aws_access_key_id": s.storage_access_key_id,
            "aws_secret_access_key": s.storage_secret_access_key.reveal(),
        }
        self._client = await self._stack.enter_async_context(
            session.create_client("s3", endpoint_url=s.storage_endpoint, config=_config(s.storage_endpoint), **common)
        )
        self._signer = self._client
        timeout = aiohttp.ClientTimeout(total=30, connect=5)
        self._http = await self._stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
        if s.storage_public_endpoint:
            public = s.storage_public_endpoint
            self._signer = await self._stack.enter_async_context(
                session.create_client("s3", endpoint_url=public, config=_config(public), **common)
            )
        return self

    async def close(self) -> None:
        await self._stack.aclose()

    @_store_call
    async def check_ready(self) -> None:
        await self._client.head_bucket(Bucket=self.bucket)

    # --- presigned URLs (signed locally, no request) -------------------------------------------------

    async def presign_post(
        self, key: str, *, size: int, content_type: str, sha256_hex: str, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """A POST policy S3 enforces: this exact key, exactly `size` bytes, this type and SHA-256."""
        checksum = sha256_b64(sha256_hex)
        fields = {"Content-Type": content_type, "x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-sha256": checksum}
        conditions: list[Any] = [
            ["content-length-range", size, size],
            {"Content-Type": content_type},
            {"x-amz-checksum-algorithm": "SHA256"},
            {"x-amz-checksum-sha256": checksum},
        ]
        post = await self._signer.generate_presigned_post(
            self.bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
        )
        return str(post["url"]), {k: str(v) for k, v in post["fields"].items()}

    async def presign_part(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return str(await self._signer.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_in))

    async def presign_get(self, key: str, *, disposition: str, content_type: str, expires_in: int) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        }
        return str(await self._signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))

    # --- multipart ----------------------------------------------------------------------------------

    @_store_call
    async def create_multipart(self, key: str, content_type: str) -> str:
        answer = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return str(answer["UploadId"])

    @_store_call
    async def list_parts(
        self, key: str, upload_id: str, *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Part], int]:
        """Parts S3 holds after part `after`; returns (parts, next marker or 0 when there are no more)."""
        try:
            page = await self._client.list_parts(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=after, MaxParts=limit
            )
        except ClientError as exc:
            if _code(exc) in {"NoSuchUpload", "404"}:
                raise UploadGone(upload_id) from exc
            raise
        parts = [Part(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"])) for p in page.get("Parts", [])]
        more = page.get("IsTruncated") and parts
        return parts, (int(page.get("NextPartNumberMarker") or parts[-1].number) if more else 0)

    async def all_parts(self, key: str, upload_id: str) -> list[Part]:
        parts, marker = await self.list_parts(key, upload_id)
        while marker:
            page, marker = await self.list_parts(key, upload_id, after=marker)
            parts += page
        return parts

    @_store_call
    async def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        listed = [{"PartNumber": p.number, "ETag": p.etag} for p in parts]
        try:
            await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        except ClientError as exc:
            if _code(exc) in {"NoSuchUpload", "404"}:
                raise UploadGone(upload_id) from exc
            raise

    @_store_call
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) not in {"NoSuchUpload", "404"}:
                raise

    async def multipart_uploads(self, prefix: str) -> AsyncIterator[tuple[str, str, datetime]]:
        """Every unfinished multipart upload under `prefix`: (key, upload id, initiated)."""
        paginator = self._client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads") or []:
                yield str(upload["Key"]), str(upload["UploadId"]), upload["Initiated"]

    # --- objects ------------------------------------------------------------------------------------

    @_store_call
    async def head(self, key: str) -> Head | None:
        """Size and verified SHA-256 of `key`, or None. Sent as a locally signed HEAD on a kept-alive
        connection: botocore's request pipeline costs more than the HEAD itself on the completion path."""
        params = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        url = await self._client.generate_presigned_url("head_object", Params=params, ExpiresIn=60)
        async with self._http.head(url, headers={"x-amz-checksum-mode": "ENABLED"}) as answer:
            if answer.status == 404:
                return None
            if answer.status != 200:
                raise StoreUnavailable(f"S3 answered {answer.status} to a HEAD")
            checksum = answer.headers.get("x-amz-checksum-sha256")
            size = int(answer.headers["Content-Length"])
        # A multipart object's checksum is a checksum of part checksums ("...-N"), not the object's.
        whole = checksum if checksum and "-" not in checksum else None
        return Head(size, whole)

    @_store_call
    async def sha256_hex(self, key: str) -> str:
        """Read the object back and hash it (for stores or uploads where S3 did not verify a SHA-256)."""
        answer = await self._client.get_object(Bucket=self.bucket, Key=key)
        digest = hashlib.sha256()
        async with answer["Body"] as body:
            async for chunk in body.iter_chunks(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    @_store_call
    async def copy(self, source: str, target: str, *, size: int, content_type: str) -> None:
        if size <= MAX_SINGLE_COPY_BYTES:
            await self._client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
            )
            return
        upload_id = await self.create_multipart(target, content_type)
        try:
            parts = []
            for number, start in enumerate(range(0, size, _COPY_PART_BYTES), start=1):
                end = min(size, start + _COPY_PART_BYTES) - 1
                answer = await self._client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append(Part(number, end - start + 1, str(answer["CopyPartResult"]["ETag"])))
            await self.complete_multipart(target, upload_id, parts)
        except BaseException:
            await self.abort_multipart(target, upload_id)
            raise

    @_store_call
    async def delete_keys(self, keys: list[str]) -> None:
        """Delete every key (absent ones count as deleted); raises when S3 reports any failure."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            answer = await self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                raise StoreUnavailable(f"S3 refused to delete {len(errors)} keys, first: {errors[0]}")

    async def keys(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents") or []:
                yield str(item["Key"]), item["LastModified"]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
