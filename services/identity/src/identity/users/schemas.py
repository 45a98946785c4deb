"""Request and response types of the caller's own account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from identity.memberships.repository import Role


class MembershipRead(msgspec.Struct, kw_only=True):
    tenant_id: str
    tenant_name: str
    role: Role


class MeRead(msgspec.Struct, kw_only=True):
    id: str
    email: str
    display_name: str | None
    has_password: bool
    mfa_enabled: bool
    tenant_id: str
    role: Role
    created_at: datetime


class PasswordUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
