"""Errors of a chat call. Each knows its HTTP status and its `kind`, which both compatible APIs map to
their own error shape (OpenAI `{"error": {...}}`, Anthropic `{"type": "error", "error": {...}}`)."""

from __future__ import annotations

from typing import Literal

from portal_core.errors import PortalError

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "rate_limit",
    "budget_exhausted",
    "overloaded",
    "upstream",
    "timeout",
    "internal",
]


class ChatError(PortalError):
    """A PortalError (so the house routes still render problem+json) with a provider-neutral kind."""

    kind: ErrorKind = "internal"

    def __init__(self, detail: str, *, retry_after: int | None = None, param: str | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.param = param


class InvalidChatRequest(ChatError):
    status, code, title, kind = 400, "invalid_request", "The request is not valid", "invalid_request"


class ModelNotFound(ChatError):
    status, code, title, kind = 404, "model_not_found", "No such model", "not_found"


class ModelNotAllowed(ChatError):
    status, code, title, kind = 403, "model_not_allowed", "This tenant may not use this model", "permission"


class RateLimited(ChatError):
    status, code, title, kind = 429, "rate_limited", "Too many requests", "rate_limit"


class BudgetExhausted(ChatError):
    status, code, title, kind = 429, "budget_exhausted", "The tenant's AI budget is spent", "budget_exhausted"


class UpstreamFailed(ChatError):
    """Every candidate provider failed (after retries and fallbacks)."""

    status, code, title, kind = 502, "upstream_failed", "The model provider failed", "upstream"


class UpstreamOverloaded(ChatError):
    status, code, title, kind = 503, "upstream_unavailable", "The model provider is unavailable", "overloaded"


class UpstreamTimeout(ChatError):
    status, code, title, kind = 504, "upstream_timeout", "The model provider did not answer in time", "timeout"


class LedgerUnavailable(ChatError):
    """The call cannot be recorded (the database is away, or the ledger's backlog is full): not started."""

    status, code, title, kind = 503, "ledger_unavailable", "Usage cannot be recorded right now", "overloaded"
