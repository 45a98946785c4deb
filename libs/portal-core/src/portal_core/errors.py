"""One error base that carries its HTTP status; rendered as RFC 9457 problem+json everywhere."""

from __future__ import annotations

from typing import Any

import msgspec

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """The problem+json body: RFC 9457 members plus a stable `code` and the `request_id`."""

    type: str
    title: str
    status: int
    code: str
    detail: str = ""
    request_id: str = ""
    errors: list[FieldError] = []
    retry_after: int | None = None


_encoder = msgspec.json.Encoder()


class PortalError(Exception):
    """Base of every business error. Subclasses set status, code and title."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str = "",
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        if code:
            self.code = code

    def problem(self, request_id: str = "") -> Problem:
        return Problem(
            type=f"urn:problem:portal:{self.code}",
            title=self.title,
            status=self.status,
            code=self.code,
            detail=self.detail,
            request_id=request_id,
            errors=self.errors,
        )


class BadRequest(PortalError):
    status, code, title = 400, "bad_request", "Bad request"


class InvalidCursor(BadRequest):
    code, title = "invalid_cursor", "The cursor is not one this API returned"


class MalformedBody(PortalError):
    status, code, title = 400, "malformed_body", "The request body could not be parsed"


class ValidationFailed(PortalError):
    status, code, title = 400, "validation_failed", "The request is not valid"


class Unauthorized(PortalError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(PortalError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(PortalError):
    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(PortalError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(PortalError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(PortalError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(PortalError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class TooManyRequests(PortalError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str = "", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = max(1, retry_after)
        self.headers.setdefault("retry-after", str(self.retry_after))

    def problem(self, request_id: str = "") -> Problem:
        body = super().problem(request_id)
        body.retry_after = self.retry_after
        return body


class BadGateway(PortalError):
    status, code, title = 502, "upstream_unavailable", "The upstream service could not be reached"


class ServiceUnavailable(PortalError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class GatewayTimeout(PortalError):
    status, code, title = 504, "upstream_timeout", "The upstream service did not answer in time"


_BY_STATUS: dict[int, type[PortalError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
}


def error_for_status(status: int, detail: str = "") -> PortalError:
    """The PortalError that stands for a bare HTTP status (framework errors, upstream failures)."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(detail)
    err = PortalError(detail)
    err.status = status
    if 400 <= status < 500:
        err.code, err.title = "client_error", "The request cannot be served"
    return err


def encode_problem(problem: Problem) -> bytes:
    return _encoder.encode(problem)
