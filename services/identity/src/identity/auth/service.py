"""Password sign-up and sign-in, and the MFA step, with their abuse limits.

No answer tells whether an email is registered: an unknown email is hashed against a dummy argon2id
hash (same time), fails with the same error, and counts toward the same per-account lockout.
"""

from __future__ import annotations

from uuid import UUID

from portal_core.errors import TooManyRequests, ValidationFailed

from identity.auth.events import record_login_failure
from identity.auth.limits import account_key, ip_key
from identity.errors import InvalidCredentials, InvalidMfaChallenge, InvalidMfaCode
from identity.mfa.service import verify_second_factor
from identity.runtime import Runtime
from identity.security.passwords import check_password_policy
from identity.sessions.service import LoginOutcome, issue_session, sign_in
from identity.users.repository import UserRepository
from identity.users.service import create_user_with_tenant, normalise_email

PASSWORD_METHOD = "password"  # noqa: S105 (a sign-in method name)


async def sign_up(
    runtime: Runtime,
    *,
    email: str,
    password: str,
    tenant_name: str | None,
    display_name: str | None,
    client_ip: str | None,
) -> LoginOutcome:
    """A new tenant with this user as owner, signed in. Raises EmailTaken, WeakPassword, 429."""
    normalised = normalise_email(email)
    check_password_policy(password, normalised, runtime.settings.password_min_length)
    await runtime.signup_limits.check(ip_key(client_ip))
    await runtime.signup_limits.record_failure(ip_key(client_ip))  # counts every sign-up from the IP
    password_hash = await runtime.passwords.hash(password)
    async with runtime.pool.acquire() as conn, conn.transaction():
        user, tenant_id = await create_user_with_tenant(
            conn,
            email=normalised,
            password_hash=password_hash,
            method="signup",
            tenant_name=tenant_name,
            display_name=display_name,
        )
        session = await issue_session(runtime, conn, user.id, tenant_id, method=PASSWORD_METHOD, mfa=False)
    return LoginOutcome(session=session)


async def log_in(
    runtime: Runtime, *, email: str, password: str, tenant_id: UUID | None, client_ip: str | None
) -> LoginOutcome:
    try:
        normalised = normalise_email(email)
    except ValidationFailed:
        normalised = email.strip().lower()  # still hashed and limited: a malformed email reads like a wrong one
    account, ip = account_key(normalised), ip_key(client_ip)
    try:
        await runtime.login_limits.check(account)
        await runtime.ip_limits.check(ip)
    except TooManyRequests:
        await record_login_failure(runtime, reason="rate_limited", method=PASSWORD_METHOD)
        raise
    async with runtime.pool.acquire() as conn:
        user = await UserRepository(conn).by_email(normalised)
    if user is None:
        await runtime.passwords.verify_unknown(password)
        ok = False
    else:
        ok = await runtime.passwords.verify(user.password_hash, password)
    if not ok:
        await runtime.login_limits.record_failure(account)
        await runtime.ip_limits.record_failure(ip)
        await record_login_failure(
            runtime, reason="invalid_credentials", method=PASSWORD_METHOD, user_id=user.id if user else None
        )
        raise InvalidCredentials()
    assert user is not None
    assert user.password_hash is not None
    await runtime.login_limits.reset(account)
    async with runtime.pool.acquire() as conn, conn.transaction():
        if runtime.passwords.needs_rehash(user.password_hash):
            await UserRepository(conn).set_password_hash(user.id, await runtime.passwords.hash(password))
        return await sign_in(runtime, conn, user.id, method=PASSWORD_METHOD, tenant_id=tenant_id)


async def complete_mfa(
    runtime: Runtime, *, mfa_token: str, code: str | None, recovery_code: str | None
) -> LoginOutcome:
    """The second step: a valid code (or recovery code) for the pending login turns it into a session."""
    pending = await runtime.challenges.get(mfa_token)
    if pending is None:
        raise InvalidMfaChallenge()
    user_id, tenant_id = UUID(pending.user_id), UUID(pending.tenant_id)
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await verify_second_factor(runtime, conn, user_id, code=code, recovery_code=recovery_code)
            if not await runtime.challenges.consume(mfa_token):
                raise InvalidMfaChallenge()
            session = await issue_session(runtime, conn, user_id, tenant_id, method=pending.method, mfa=True)
    except (InvalidMfaCode, TooManyRequests) as exc:
        reason = "rate_limited" if isinstance(exc, TooManyRequests) else "invalid_mfa_code"
        await record_login_failure(runtime, reason=reason, method=pending.method, user_id=user_id, tenant_id=tenant_id)
        raise
    return LoginOutcome(session=session)
