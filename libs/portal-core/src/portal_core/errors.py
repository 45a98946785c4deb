"""One error base that carries its HTTP status; rendered as RFC 9457 problem+json everywhere."""

from __future__ import annotations

from typing import Any

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        if code:
            self.code = code
        # Seconds after which a retry may succeed: the Retry-After header and the body's `retry_after`.
        self.retry_after = None if retry_after is None else max(1, retry_after)
        if self.retry_after is not None:
            self.headers.setdefault("retry-after", str(self.retry_after))

    def problem(self, request_id: str = "") -> Problem:
        return Problem(
            type=f"urn:problem:portal:{self.code}",
            title=self.title,
            status=self.status,
            code=self.code,
            detail=self.detail,
            request_id=request_id,
            errors=self.errors,
            retry_after=self.retry_after,
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
        super().__init__(detail, retry_after=retry_after, **kwargs)


class BadGateway(PortalError):
    status, code, title = 502, "upstream_unavailable", "The upstream service could not be reached"


class ServiceUnavailable(PortalError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class DependencyUnavailable(ServiceUnavailable):
    code, title = "dependency_unavailable", "A service this one depends on is unavailable; retry shortly"


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


# SQLSTATEs of a database that is away rather than refusing the statement: class 08 (connection exception),
# administrator or crash shutdown, "cannot connect now" (starting up or recovering), too many connections.
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def dependency_outage(exc: BaseException) -> bool:
    """True when `exc`, or what it was raised from, says a dependency is away (a database restarting, Redis or
    a peer unreachable) rather than that the request or the code is wrong: a 503 to retry, not a 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | RedisConnectionError | RedisTimeoutError):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
        current = current.__cause__ or current.__context__
    return False
