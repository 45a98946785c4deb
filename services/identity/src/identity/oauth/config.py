"""Which OAuth providers are enabled, and where their endpoints are, from IdentitySettings.

A provider is enabled only when all of its credentials are set; every endpoint can be pointed elsewhere
(tests point Google, Microsoft and Apple at a local OpenID Connect provider, GitHub at a local fake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from portal_core.settings import Secret, SettingsError

from identity.settings import IdentitySettings

ProviderName = Literal["github", "google", "microsoft", "apple"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("github", "google", "microsoft", "apple")


@dataclass(frozen=True)
class AppleKey:
    """What signs Apple's client secret (an ES256 JWT): the .p8 key, its id and the team id."""

    team_id: str
    key_id: str
    private_key_pem: Secret


@dataclass(frozen=True)
class OidcEndpoints:
    """An OpenID Connect provider: its issuer (discovery) and optional per-endpoint overrides."""

    issuer: str
    authorize_url: str | None = None
    token_url: str | None = None
    jwks_url: str | None = None
    userinfo_url: str | None = None


@dataclass(frozen=True)
class GitHubEndpoints:
    authorize_url: str
    token_url: str
    api_url: str


@dataclass(frozen=True)
class ProviderConfig:
    name: ProviderName
    client_id: str
    client_secret: Secret | None  # None for Apple: its secret is signed per use from `apple_key`
    endpoints: OidcEndpoints | GitHubEndpoints
    scopes: tuple[str, ...]
    redirect_uri: str
    response_mode: Literal["query", "form_post"] = "query"
    token_auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"  # noqa: S105
    apple_key: AppleKey | None = None


def _redirect_uri(settings: IdentitySettings, name: str) -> str:
    return f"{settings.oauth_redirect_base_url.rstrip('/')}/api/oauth/{name}/callback"


def _github(s: IdentitySettings) -> ProviderConfig | None:
    if not (s.oauth_github_client_id and s.oauth_github_client_secret):
        return None
    return ProviderConfig(
        name="github",
        client_id=s.oauth_github_client_id,
        client_secret=s.oauth_github_client_secret,
        endpoints=GitHubEndpoints(
            authorize_url=s.oauth_github_authorize_url,
            token_url=s.oauth_github_token_url,
            api_url=s.oauth_github_api_url.rstrip("/"),
        ),
        scopes=("read:user", "user:email"),
        redirect_uri=_redirect_uri(s, "github"),
    )


def _google(s: IdentitySettings) -> ProviderConfig | None:
    if not (s.oauth_google_client_id and s.oauth_google_client_secret):
        return None
    return ProviderConfig(
        name="google",
        client_id=s.oauth_google_client_id,
        client_secret=s.oauth_google_client_secret,
        endpoints=OidcEndpoints(
            s.oauth_google_issuer,
            s.oauth_google_authorize_url,
            s.oauth_google_token_url,
            s.oauth_google_jwks_url,
            s.oauth_google_userinfo_url,
        ),
        scopes=("openid", "email", "profile"),
        redirect_uri=_redirect_uri(s, "google"),
    )


def _microsoft(s: IdentitySettings) -> ProviderConfig | None:
    if not (s.oauth_microsoft_client_id and s.oauth_microsoft_client_secret and s.oauth_microsoft_tenant_id):
        return None
    return ProviderConfig(
        name="microsoft",
        client_id=s.oauth_microsoft_client_id,
        client_secret=s.oauth_microsoft_client_secret,
        endpoints=OidcEndpoints(
            s.oauth_microsoft_issuer.replace("{tenant_id}", s.oauth_microsoft_tenant_id),
            s.oauth_microsoft_authorize_url,
            s.oauth_microsoft_token_url,
            s.oauth_microsoft_jwks_url,
            s.oauth_microsoft_userinfo_url,
        ),
        scopes=("openid", "email", "profile"),
        redirect_uri=_redirect_uri(s, "microsoft"),
    )


def _apple(s: IdentitySettings) -> ProviderConfig | None:
    if not (s.oauth_apple_client_id and s.oauth_apple_team_id and s.oauth_apple_key_id and s.oauth_apple_private_key):
        return None
    return ProviderConfig(
        name="apple",
        client_id=s.oauth_apple_client_id,
        client_secret=None,
        endpoints=OidcEndpoints(
            s.oauth_apple_issuer, s.oauth_apple_authorize_url, s.oauth_apple_token_url, s.oauth_apple_jwks_url
        ),
        # Apple answers with a POST (form_post) whenever name or email is asked for.
        scopes=("openid", "email", "name"),
        redirect_uri=_redirect_uri(s, "apple"),
        response_mode="form_post",
        apple_key=AppleKey(
            s.oauth_apple_team_id,
            s.oauth_apple_key_id,
            Secret(s.oauth_apple_private_key.reveal().replace("\\n", "\n")),
        ),
    )


def enabled_providers(settings: IdentitySettings) -> dict[str, ProviderConfig]:
    """The providers whose credentials are set, by name; SettingsError for a production setup without https."""
    found = (_github(settings), _google(settings), _microsoft(settings), _apple(settings))
    enabled: dict[str, ProviderConfig] = {config.name: config for config in found if config is not None}
    if enabled and settings.environment == "production" and not settings.oauth_redirect_base_url.startswith("https://"):
        raise SettingsError("OAUTH_REDIRECT_BASE_URL must be the gateway's public https:// origin in production")
    return enabled
