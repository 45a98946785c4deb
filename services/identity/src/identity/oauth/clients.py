"""The client for a configured provider."""

from __future__ import annotations

import httpx

from identity.oauth.config import ProviderConfig
from identity.oauth.github import GitHubProvider
from identity.oauth.oidc import OidcProvider
from identity.oauth.providers import OAuthProvider


def build_provider(config: ProviderConfig, http: httpx.AsyncClient) -> OAuthProvider:
    return GitHubProvider(config, http) if config.name == "github" else OidcProvider(config, http)
