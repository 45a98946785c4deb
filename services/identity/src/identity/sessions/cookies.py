"""How a sign-in reaches the client: the session cookie (browsers) or the token in the body (bearer clients).

Cookies: the session is HttpOnly, Secure, SameSite=Lax; the CSRF token cookie is readable by the page's
script (it must echo it in X-CSRF-Token on unsafe requests, see docs/identity.md); the MFA step cookie
is HttpOnly and only sent to the MFA route.
"""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Response
from litestar.datastructures import Cookie

from identity.auth.challenges import MfaChallenge
from identity.sessions.schemas import LoginRead, SessionIssuedRead, TokenDelivery
from identity.sessions.service import LoginOutcome
from identity.sessions.store import IssuedSession
from identity.settings import IdentitySettings

MFA_COOKIE = "portal_mfa"
MFA_COOKIE_PATH = "/api/identity/v1/login/mfa"


def _cookie(
    settings: IdentitySettings, key: str, value: str, max_age: int, *, httponly: bool, path: str = "/"
) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=path,
        domain=settings.cookie_domain,
        secure=settings.cookie_secure,
        httponly=httponly,
        samesite="lax",
    )


def session_cookies(issued: IssuedSession, settings: IdentitySettings) -> list[Cookie]:
    max_age = settings.session_absolute_seconds
    return [
        _cookie(settings, settings.session_cookie_name, issued.token, max_age, httponly=True),
        _cookie(settings, settings.csrf_cookie_name, issued.csrf_token, max_age, httponly=False),
        _cookie(settings, MFA_COOKIE, "", 0, httponly=True, path=MFA_COOKIE_PATH),
    ]


def mfa_challenge_cookie(challenge: MfaChallenge, settings: IdentitySettings) -> Cookie:
    return _cookie(settings, MFA_COOKIE, challenge.token, challenge.expires_in, httponly=True, path=MFA_COOKIE_PATH)


def cleared_session_cookies(settings: IdentitySettings) -> list[Cookie]:
    return [
        _cookie(settings, settings.session_cookie_name, "", 0, httponly=True),
        _cookie(settings, settings.csrf_cookie_name, "", 0, httponly=False),
    ]


def login_cookies(outcome: LoginOutcome, settings: IdentitySettings) -> list[Cookie]:
    """The cookies a browser sign-in sets: the session (+ CSRF), or the MFA step cookie."""
    if outcome.session is not None:
        return session_cookies(outcome.session, settings)
    assert outcome.challenge is not None
    return [mfa_challenge_cookie(outcome.challenge, settings)]


def issued_read(issued: IssuedSession, delivery: TokenDelivery) -> SessionIssuedRead:
    record = issued.record
    return SessionIssuedRead(
        session_id=record.id,
        user_id=record.user_id,
        tenant_id=record.tenant_id,
        mfa=record.mfa,
        expires_at=datetime.fromtimestamp(record.absolute_expires_at, UTC),
        csrf_token=issued.csrf_token,
        token=issued.token if delivery == "bearer" else None,
    )


def login_body(outcome: LoginOutcome, delivery: TokenDelivery) -> LoginRead:
    if outcome.session is not None:
        return LoginRead(status="signed_in", session=issued_read(outcome.session, delivery))
    assert outcome.challenge is not None
    return LoginRead(
        status="mfa_required", mfa_token=outcome.challenge.token, mfa_expires_in=outcome.challenge.expires_in
    )


def login_response(
    outcome: LoginOutcome, settings: IdentitySettings, *, delivery: TokenDelivery = "cookie", status_code: int = 200
) -> Response[LoginRead]:
    """The JSON answer of a sign-in: cookies for browsers (delivery=cookie), the token in the body for bearer."""
    cookies = login_cookies(outcome, settings) if delivery == "cookie" else []
    return Response(login_body(outcome, delivery), status_code=status_code, cookies=cookies)
