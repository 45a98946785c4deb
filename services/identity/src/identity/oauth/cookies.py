"""The flow cookie: binds a started sign-in to the browser that started it (its value is hashed in Redis)."""

from __future__ import annotations

from litestar.datastructures import Cookie

from identity.settings import IdentitySettings


def flow_cookie_name(provider: str) -> str:
    return f"portal_oauth_{provider}"


def flow_cookie(provider: str, value: str, settings: IdentitySettings, *, max_age: int | None = None) -> Cookie:
    # Apple answers with a cross-site POST (form_post): only a SameSite=None cookie comes back with it,
    # and browsers take SameSite=None only with Secure (plain-http development falls back to Lax).
    return Cookie(
        key=flow_cookie_name(provider),
        value=value,
        max_age=settings.oauth_flow_ttl_seconds if max_age is None else max_age,
        path=f"/api/oauth/{provider}/callback",
        domain=settings.cookie_domain,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="none" if settings.cookie_secure else "lax",
    )


def cleared_flow_cookie(provider: str, settings: IdentitySettings) -> Cookie:
    return flow_cookie(provider, "", settings, max_age=0)
