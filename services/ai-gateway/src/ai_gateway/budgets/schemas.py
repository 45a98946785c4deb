from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Period = Literal["day", "week", "month", "never"]


class BudgetUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Set either limit or both; a null limit means no limit of that kind. Periods start at UTC midnight."""

    period: Period
    token_limit: Annotated[int, msgspec.Meta(ge=1, le=10**15)] | None = None
    cost_limit_usd: Annotated[float, msgspec.Meta(gt=0, le=10**9)] | None = None


class BudgetRead(msgspec.Struct):
    period: Period
    period_start: datetime
    token_limit: int | None
    cost_limit_usd: float | None
    tokens_used: int
    cost_used_usd: float
    exhausted: bool
