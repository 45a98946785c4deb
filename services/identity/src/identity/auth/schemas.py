"""Request types of sign-up, login and the MFA step."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

from identity.sessions.schemas import TokenDelivery

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, examples=["ada@example.com"])]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024, examples=["correct horse battery staple"])]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["123456"])]


class SignupCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    password: Password
    tenant_name: Name | None = None
    display_name: Name | None = None
    token_delivery: TokenDelivery = "cookie"  # noqa: S105 (a mode name, not a secret)


class LoginCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    password: Password
    tenant_id: UUID | None = None  # default: the tenant the user joined first
    token_delivery: TokenDelivery = "cookie"  # noqa: S105 (a mode name, not a secret)


class MfaLoginCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Browsers send nothing here: the challenge rides in the HttpOnly portal_mfa cookie.
    mfa_token: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    code: Code | None = None
    recovery_code: Code | None = None
    token_delivery: TokenDelivery = "cookie"  # noqa: S105 (a mode name, not a secret)
