"""TOTP rules: enrol, confirm, verify (once per time step), disable, recovery codes.

A wrong code, a code from outside the window and a replayed code all raise the same InvalidMfaCode.
"""

from __future__ import annotations

import time
from uuid import UUID

import pyotp
from portal_contracts.identity import MfaDisabled, MfaEnabled
from portal_db import Connection
from portal_events import publish

from identity.errors import InvalidMfaCode, MfaAlreadyEnabled, MfaNotEnabled, MfaNotEnrolling
from identity.mfa.replay import TOTP_PERIOD_SECONDS
from identity.mfa.repository import MfaRepository
from identity.runtime import Runtime
from identity.security.tokens import new_recovery_code, normalise_recovery_code, same_secret, token_hash
from identity.settings import SCHEMA

RECOVERY_CODE_COUNT = 10


def _matching_step(secret: str, code: str, window: int, now: float) -> int | None:
    """The time step whose code equals `code` within +-window steps of now, compared in constant time."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD_SECONDS)
    step_now = int(now // TOTP_PERIOD_SECONDS)
    found = None
    for offset in range(-window, window + 1):
        step = step_now + offset
        if same_secret(totp.generate_otp(step), code):
            found = step
    return found


async def start_enrolment(runtime: Runtime, conn: Connection, user_id: UUID, email: str) -> tuple[str, str]:
    """A new secret (stored encrypted, unconfirmed): (secret, otpauth URI)."""
    repo = MfaRepository(conn)
    factor = await repo.factor(user_id, for_update=True)
    if factor is not None and factor.confirmed_at is not None:
        raise MfaAlreadyEnabled()
    secret = pyotp.random_base32(32)  # 160 bits, RFC 4226's recommendation
    await repo.start_enrolment(user_id, runtime.secretbox.encrypt(secret))
    uri = pyotp.TOTP(secret, interval=TOTP_PERIOD_SECONDS).provisioning_uri(
        name=email, issuer_name=runtime.settings.totp_issuer
    )
    return secret, uri


async def verify_totp(runtime: Runtime, conn: Connection, user_id: UUID, code: str, *, confirmed: bool = True) -> None:
    """Accept `code` once (replay guard), or raise InvalidMfaCode. Re-encrypts the secret under a newer key."""
    repo = MfaRepository(conn)
    factor = await repo.factor(user_id)
    if factor is None or (factor.confirmed_at is not None) != confirmed:
        raise InvalidMfaCode()
    secret = runtime.secretbox.decrypt(factor.secret_ciphertext)
    step = _matching_step(secret, code.strip(), runtime.settings.totp_valid_window, time.time())
    if step is None or not await runtime.totp_replay.claim(str(user_id), step):
        raise InvalidMfaCode()
    if runtime.secretbox.needs_rotation(factor.secret_ciphertext):
        await repo.set_ciphertext(user_id, runtime.secretbox.rotate(factor.secret_ciphertext))


async def verify_second_factor(
    runtime: Runtime, conn: Connection, user_id: UUID, *, code: str | None, recovery_code: str | None
) -> None:
    """A TOTP code or an unused recovery code (consumed); InvalidMfaCode otherwise. Rate limited per user."""
    await runtime.mfa_limits.check(str(user_id))
    try:
        if recovery_code:
            hashed = token_hash(normalise_recovery_code(recovery_code))
            if not await MfaRepository(conn).use_recovery_code(user_id, hashed):
                raise InvalidMfaCode()
        elif code:
            await verify_totp(runtime, conn, user_id, code)
        else:
            raise InvalidMfaCode()
    except InvalidMfaCode:
        await runtime.mfa_limits.record_failure(str(user_id))
        raise


async def new_recovery_codes(conn: Connection, user_id: UUID) -> list[str]:
    """Ten fresh one-time codes (the old ones stop working); only their hashes are stored."""
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    await MfaRepository(conn).replace_recovery_codes(user_id, [token_hash(normalise_recovery_code(c)) for c in codes])
    return codes


async def confirm_enrolment(runtime: Runtime, conn: Connection, user_id: UUID, code: str) -> list[str]:
    """Turn MFA on with a first valid code; returns the recovery codes. Publishes MfaEnabled."""
    repo = MfaRepository(conn)
    factor = await repo.factor(user_id, for_update=True)
    if factor is None:
        raise MfaNotEnrolling()
    if factor.confirmed_at is not None:
        raise MfaAlreadyEnabled()
    await runtime.mfa_limits.check(str(user_id))
    try:
        await verify_totp(runtime, conn, user_id, code, confirmed=False)
    except InvalidMfaCode:
        await runtime.mfa_limits.record_failure(str(user_id))
        raise
    await repo.confirm(user_id)
    codes = await new_recovery_codes(conn, user_id)
    await publish(conn, MfaEnabled(user_id=str(user_id)), schema=SCHEMA, entity_id=user_id)
    return codes


async def disable(
    runtime: Runtime, conn: Connection, user_id: UUID, *, code: str | None, recovery_code: str | None
) -> None:
    repo = MfaRepository(conn)
    if not await repo.is_enabled(user_id):
        raise MfaNotEnabled()
    await verify_second_factor(runtime, conn, user_id, code=code, recovery_code=recovery_code)
    await repo.delete_factor(user_id)
    await publish(conn, MfaDisabled(user_id=str(user_id)), schema=SCHEMA, entity_id=user_id)
