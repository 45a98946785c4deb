"""What the query API returns and accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

Outcome = Literal["success", "failure"]


class RecordRead(msgspec.Struct, kw_only=True):
    id: str
    seq: int
    action: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    outcome: str
    client_ip: str | None
    user_agent: str | None
    trace_id: str | None
    request_id: str | None
    source: str
    occurred_at: datetime
    received_at: datetime
    body: Any
    hash: str


class RecordPage(msgspec.Struct, kw_only=True):
    items: list[RecordRead]
    next_cursor: str | None


class RecordFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Every filter is optional; all given ones must hold."""

    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: Outcome | None = None
    trace_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
