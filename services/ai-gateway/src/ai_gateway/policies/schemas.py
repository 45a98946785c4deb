from __future__ import annotations

from typing import Annotated

import msgspec

ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PolicyRead(msgspec.Struct):
    allowed_models: list[str] | None  # null: every model the gateway offers
    store_content: bool  # keep prompts and outputs in the usage ledger


class PolicyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    allowed_models: Annotated[list[ModelName], msgspec.Meta(max_length=500)] | None = None
    store_content: bool = False
