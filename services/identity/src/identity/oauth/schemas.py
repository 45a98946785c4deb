"""Request and response types of the linked-accounts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

ProviderField = Literal["github", "google", "microsoft", "apple"]
# A path on this site only: never an absolute URL (no open redirect after sign-in).
ReturnTo = Annotated[str, msgspec.Meta(pattern=r"^/(?![/\\])[!-\[\]-~]*$", max_length=2000)]


class LinkedAccountRead(msgspec.Struct, kw_only=True):
    id: str
    provider: str
    email: str | None
    display_name: str | None
    created_at: datetime
    last_used_at: datetime | None


class LinkedAccountPage(msgspec.Struct, kw_only=True):
    items: list[LinkedAccountRead]
    next_cursor: str | None


class LinkRequestCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    provider: ProviderField
    return_to: ReturnTo = "/"


class LinkRequestRead(msgspec.Struct, kw_only=True):
    provider: str
    # Send the browser here (a top-level navigation); it comes back to /api/oauth/<provider>/callback.
    authorization_url: str
    expires_in: int


class ProvidersRead(msgspec.Struct, kw_only=True):
    providers: list[str]
