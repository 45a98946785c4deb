"""What the retention API returns and accepts."""

from __future__ import annotations

from typing import Annotated

import msgspec


class RetentionRead(msgspec.Struct, kw_only=True):
    retention_days: int
    is_default: bool


class RetentionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=36_500, description="days a record is kept")]
