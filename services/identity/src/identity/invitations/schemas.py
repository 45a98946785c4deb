"""Request and response types of invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from identity.memberships.repository import Role
from identity.sessions.schemas import TokenDelivery


class InvitationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320, examples=["grace@example.com"])]
    role: Role = "member"


class InvitationRead(msgspec.Struct, kw_only=True):
    id: str
    email: str
    role: Role
    expires_at: datetime
    created_at: datetime
    # Shown once, in the answer to the create: send it to the invitee (it is stored only hashed).
    token: str | None = None


class InvitationPage(msgspec.Struct, kw_only=True):
    items: list[InvitationRead]
    next_cursor: str | None


class InvitationAccept(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    # For a new account; an existing account accepts while signed in as the invited email.
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] | None = None
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    token_delivery: TokenDelivery = "cookie"  # noqa: S105 (a mode name, not a secret)
