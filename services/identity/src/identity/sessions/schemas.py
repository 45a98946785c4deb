"""Request and response types of sign-in and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

TokenDelivery = Literal["cookie", "bearer"]


class SessionIssuedRead(msgspec.Struct, kw_only=True):
    session_id: str
    user_id: str
    tenant_id: str
    mfa: bool
    expires_at: datetime
    csrf_token: str
    # Only with token_delivery=bearer; browsers get the HttpOnly cookie and never see the token.
    token: str | None = None


class LoginRead(msgspec.Struct, kw_only=True):
    status: Literal["signed_in", "mfa_required"]
    session: SessionIssuedRead | None = None
    # The MFA step's token (also set as an HttpOnly cookie for browsers): POST it to /login/mfa with a code.
    mfa_token: str | None = None
    mfa_expires_in: int | None = None


class SessionRead(msgspec.Struct, kw_only=True):
    id: str
    tenant_id: str
    mfa: bool
    method: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_ip: str | None
    user_agent: str | None
    current: bool


class SessionPage(msgspec.Struct, kw_only=True):
    items: list[SessionRead]
    next_cursor: str | None
