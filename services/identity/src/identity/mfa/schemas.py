"""Request and response types of TOTP MFA."""

from __future__ import annotations

from typing import Annotated

import msgspec

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["123456"])]


class MfaStatusRead(msgspec.Struct, kw_only=True):
    enabled: bool
    recovery_codes_left: int


class TotpEnrolmentRead(msgspec.Struct, kw_only=True):
    secret: str
    otpauth_uri: str


class TotpConfirm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Code


class SecondFactor(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A current TOTP code, or one of the recovery codes."""

    code: Code | None = None
    recovery_code: Code | None = None


class RecoveryCodesRead(msgspec.Struct, kw_only=True):
    recovery_codes: list[str]
