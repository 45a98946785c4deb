"""Request and response types of members and roles."""

from __future__ import annotations

from datetime import datetime

import msgspec

from identity.memberships.repository import Role


class MemberRead(msgspec.Struct, kw_only=True):
    user_id: str
    email: str
    display_name: str | None
    role: Role
    joined_at: datetime


class MemberPage(msgspec.Struct, kw_only=True):
    items: list[MemberRead]
    next_cursor: str | None


class MemberUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role
