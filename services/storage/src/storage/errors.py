"""The storage service's business errors (rendered as problem+json by portal_core)."""

from __future__ import annotations

from portal_core.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PortalError
from portal_core.errors import UnsupportedMediaType as _UnsupportedMediaType


class ObjectNotFound(NotFound):
    code = "object_not_found"


class UploadNotFound(NotFound):
    code = "upload_not_found"


class InvalidPath(BadRequest):
    code = "invalid_path"


class PathTaken(Conflict):
    code, title = "path_taken", "An object already uses this path"


class InvalidState(Conflict):
    code, title = "invalid_state", "The object is not in a state that allows this"


class UploadIncomplete(Conflict):
    code, title = "upload_incomplete", "The upload's bytes have not all arrived"


class UploadTooLarge(PayloadTooLarge):
    code, title = "upload_too_large", "The upload is larger than allowed"


class ContentTypeNotAllowed(_UnsupportedMediaType):
    code, title = "content_type_not_allowed", "This content type may not be uploaded"


class QuotaExceeded(Forbidden):
    code, title = "quota_exceeded", "The tenant's storage quota is full"


class ChecksumMismatch(PortalError):
    status, code, title = 422, "checksum_mismatch", "The stored bytes do not match the declared size or SHA-256"


class IdempotencyKeyReused(PortalError):
    status, code, title = 422, "idempotency_key_reused", "This Idempotency-Key was used for a different request"


class StoreUnavailable(PortalError):
    status, code, title = 502, "object_store_unavailable", "The object store did not accept the request"
