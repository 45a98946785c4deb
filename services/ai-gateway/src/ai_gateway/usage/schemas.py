from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class UsageRecord(msgspec.Struct, kw_only=True):
    """One finished call, as the ledger stores it (prompt/output only when the tenant opted in)."""

    id: str
    tenant_id: str
    user_id: str
    endpoint: str
    stream: bool
    model_requested: str
    model_used: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_micros: int
    latency_ms: int
    first_token_ms: int | None
    outcome: str
    error_code: str | None
    trace_id: str | None
    prompt: Any = None
    output: Any = None


class UsageRead(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    endpoint: str
    stream: bool
    model_requested: str
    model_used: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_ms: int
    first_token_ms: int | None
    outcome: str
    error_code: str | None
    trace_id: str | None
    created_at: datetime


class UsagePage(msgspec.Struct):
    items: list[UsageRead]
    next_cursor: str | None
