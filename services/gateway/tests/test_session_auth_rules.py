"""Session authentication rules of the gateway that need no identity service: public routes, settings."""

from __future__ import annotations

import pytest
from gateway.public_routes import DEFAULT_PUBLIC_ROUTES, PublicRoutes
from gateway.sessions import SessionCache
from gateway.settings import GatewaySettings
from portal_core.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("method", "path", "public"),
    [
        ("POST", "/api/identity/v1/login", True),
        ("GET", "/api/identity/v1/login", False),
        ("POST", "/api/identity/v1/login/mfa", True),
        ("POST", "/api/identity/v1/login/mfa/extra", False),
        ("GET", "/api/oauth/github/authorize", True),
        ("POST", "/api/oauth/apple/callback", True),
        ("GET", "/api/oauthx/github", False),
        ("GET", "/api/storage/openapi.json", True),
        ("HEAD", "/api/storage/openapi.json", True),
        ("GET", "/api/storage/v1/openapi.json", False),
        ("GET", "/api/identity/v1/users/me", False),
        ("DELETE", "/api/identity/v1/sessions/x", False),
    ],
)
def test_default_public_routes(method: str, path: str, public: bool) -> None:
    assert PublicRoutes(DEFAULT_PUBLIC_ROUTES).allows(method, path) is public


def test_public_route_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="PUBLIC_ROUTES"):
        PublicRoutes("get /api/x")
    with pytest.raises(ValueError, match="PUBLIC_ROUTES"):
        PublicRoutes("POST api/x")
    assert PublicRoutes("/api/status/*").allows("DELETE", "/api/status")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SESSION_CACHE_SECONDS": "5"}, "SESSION_CACHE_SECONDS"),
        ({"SESSION_CACHE_SECONDS": "0"}, "SESSION_CACHE_SECONDS"),
        ({"SESSION_AUTH": "required"}, "UPSTREAM_IDENTITY_URL"),
        ({"PUBLIC_ROUTES": "post /x"}, "PUBLIC_ROUTES"),
    ],
)
def test_session_settings_are_checked_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(GatewaySettings, env)


def test_sessions_are_on_when_identity_is_deployed_unless_turned_off() -> None:
    assert load_settings(GatewaySettings, {"UPSTREAM_IDENTITY_URL": "http://id"}).sessions_enabled()
    assert not load_settings(GatewaySettings, {}).sessions_enabled()
    off = {"UPSTREAM_IDENTITY_URL": "http://id", "SESSION_AUTH": "off"}
    assert not load_settings(GatewaySettings, off).sessions_enabled()


def test_a_cached_resolution_expires_after_the_ttl_counted_from_the_lookup_start() -> None:
    from gateway.sessions import Resolution

    cache = SessionCache(ttl_seconds=2.0, max_entries=3)
    cache.put(b"k", Resolution(active=True), started=100.0)
    assert cache.get(b"k", 101.9) is not None
    assert cache.get(b"k", 102.0) is None
    for n in range(5):
        cache.put(bytes([n]), Resolution(active=False), started=100.0)
    assert len(cache._entries) <= 3
