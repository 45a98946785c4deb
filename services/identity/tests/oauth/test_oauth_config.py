"""Which providers are enabled (only those whose credentials are all set) and where their endpoints are."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from identity.oauth.apple import AppleClientSecret
from identity.oauth.config import GitHubEndpoints, OidcEndpoints, enabled_providers
from identity.oauth.runtime import oauth_lifespan
from identity.settings import IdentitySettings
from joserfc import jwt
from joserfc.jwk import ECKey
from litestar import Litestar
from litestar.testing import AsyncTestClient
from portal_core.settings import SettingsError, load_settings
from redis.asyncio import Redis


def providers(**env: str) -> dict[str, object]:
    return dict(enabled_providers(load_settings(IdentitySettings, {k.upper(): v for k, v in env.items()})))


def test_no_credentials_no_providers() -> None:
    assert providers() == {}


def test_a_provider_needs_every_credential() -> None:
    assert providers(oauth_github_client_id="id") == {}
    assert providers(oauth_microsoft_client_id="id", oauth_microsoft_client_secret="s") == {}  # no tenant
    assert providers(oauth_apple_client_id="id", oauth_apple_team_id="t", oauth_apple_key_id="k") == {}  # no key
    assert list(providers(oauth_github_client_id="id", oauth_github_client_secret="s")) == ["github"]


def test_production_needs_an_https_callback_origin() -> None:
    env = {"ENVIRONMENT": "production", "DATABASE_URL": "postgresql://x@db/portal", "OAUTH_GITHUB_CLIENT_ID": "id"}
    env |= {"OAUTH_GITHUB_CLIENT_SECRET": "s", "IDENTITY_ASSERTION_PUBLIC_JWKS": '{"keys": []}'}
    env |= {"TOTP_ENCRYPTION_KEYS": "ZGV2LW9ubHktdG90cC1rZXktZG8tbm90LXVzZS0xMjM=", "CURSOR_SECRET": "c"}
    with pytest.raises(SettingsError, match="OAUTH_REDIRECT_BASE_URL"):
        enabled_providers(load_settings(IdentitySettings, env))
    env["OAUTH_REDIRECT_BASE_URL"] = "https://portal.example.com"
    assert list(enabled_providers(load_settings(IdentitySettings, env))) == ["github"]


def test_endpoints_default_to_the_real_providers_and_can_be_moved() -> None:
    enabled = enabled_providers(
        load_settings(
            IdentitySettings,
            {
                "OAUTH_REDIRECT_BASE_URL": "https://portal.example.com/",
                "OAUTH_GITHUB_CLIENT_ID": "gh",
                "OAUTH_GITHUB_CLIENT_SECRET": "s",
                "OAUTH_GITHUB_API_URL": "http://127.0.0.1:9/api/",
                "OAUTH_MICROSOFT_CLIENT_ID": "ms",
                "OAUTH_MICROSOFT_CLIENT_SECRET": "s",
                "OAUTH_MICROSOFT_TENANT_ID": "9188040d-6c67-4c5b-b112-36a304b66dad",
                "OAUTH_GOOGLE_CLIENT_ID": "g",
                "OAUTH_GOOGLE_CLIENT_SECRET": "s",
                "OAUTH_GOOGLE_TOKEN_URL": "http://127.0.0.1:9/token",
            },
        )
    )
    github, microsoft, google = enabled["github"], enabled["microsoft"], enabled["google"]
    assert isinstance(github.endpoints, GitHubEndpoints)
    assert github.endpoints.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.endpoints.api_url == "http://127.0.0.1:9/api"
    assert github.redirect_uri == "https://portal.example.com/api/oauth/github/callback"
    assert isinstance(microsoft.endpoints, OidcEndpoints)
    assert microsoft.endpoints.issuer == "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    assert isinstance(google.endpoints, OidcEndpoints)
    assert google.endpoints.issuer == "https://accounts.google.com"
    assert google.endpoints.token_url == "http://127.0.0.1:9/token"
    assert google.endpoints.authorize_url is None  # from discovery


def test_apple_client_secret_is_an_es256_jwt_from_the_p8_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    settings = load_settings(
        IdentitySettings,
        {
            "OAUTH_APPLE_CLIENT_ID": "com.example.web",
            "OAUTH_APPLE_TEAM_ID": "TEAM123456",
            "OAUTH_APPLE_KEY_ID": "KEY1234567",
            "OAUTH_APPLE_PRIVATE_KEY": pem.decode().replace("\n", "\\n"),
        },
    )
    apple = enabled_providers(settings)["apple"]
    assert apple.response_mode == "form_post"
    assert apple.apple_key is not None
    secret = AppleClientSecret(apple.apple_key, apple.client_id, "https://appleid.apple.com")

    first = secret.current(now=1_000_000)
    token = jwt.decode(first, ECKey.import_key(pem), algorithms=["ES256"])
    assert (token.header["alg"], token.header["kid"]) == ("ES256", "KEY1234567")
    assert token.claims["iss"] == "TEAM123456"
    assert token.claims["sub"] == "com.example.web"
    assert token.claims["aud"] == "https://appleid.apple.com"
    assert token.claims["exp"] - token.claims["iat"] <= 3600
    assert secret.current(now=1_000_100) == first  # reused while fresh
    assert secret.current(now=1_000_000 + 1800) != first  # renewed at half-life


async def test_the_oauth_lifespan_builds_the_clients_and_closes_them() -> None:
    settings = load_settings(
        IdentitySettings, {"OAUTH_GOOGLE_CLIENT_ID": "g", "OAUTH_GOOGLE_CLIENT_SECRET": "s", "ENVIRONMENT": "test"}
    )
    redis = Redis()
    app = Litestar(route_handlers=[], lifespan=[oauth_lifespan])
    app.state.runtime = SimpleNamespace(settings=settings, redis=redis)
    async with AsyncTestClient(app):
        oauth = app.state.oauth
        assert list(oauth.providers) == ["google"]
        assert not oauth.http.is_closed
    assert oauth.http.is_closed
    await redis.aclose()
