"""Errors in each compatible API's own shape: the SDKs parse these, so problem+json would not do here.

OpenAI: `{"error": {"message", "type", "param", "code"}}`. Anthropic: `{"type": "error", "error": {"type", "message"}}`.
"""

from __future__ import annotations

from typing import Any

from portal_core.errors import PortalError

_OPENAI_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "budget_exhausted": "insufficient_quota",
    "overloaded": "server_error",
    "upstream": "server_error",
    "timeout": "timeout",
    "internal": "server_error",
}
_ANTHROPIC_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "budget_exhausted": "rate_limit_error",
    "overloaded": "overloaded_error",
    "upstream": "api_error",
    "timeout": "timeout_error",
    "internal": "api_error",
}
_KIND_BY_STATUS = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    405: "invalid_request",
    413: "invalid_request",
    415: "invalid_request",
    429: "rate_limit",
    503: "overloaded",
    504: "timeout",
}


def kind_of(error: PortalError) -> str:
    kind = getattr(error, "kind", None)
    return kind if isinstance(kind, str) else _KIND_BY_STATUS.get(error.status, "internal")


def _message(error: PortalError) -> str:
    message = error.detail or error.title
    if error.errors:
        message += ": " + "; ".join(f"{e.field}: {e.message}" for e in error.errors)
    return message


def openai_error(error: PortalError) -> dict[str, Any]:
    return {
        "error": {
            "message": _message(error),
            "type": _OPENAI_TYPES[kind_of(error)],
            "param": getattr(error, "param", None),
            "code": error.code,
        }
    }


def anthropic_error(error: PortalError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ANTHROPIC_TYPES[kind_of(error)], "message": _message(error)}}
