"""What every OAuth provider client offers, and the two steps they share (authlib's client, the code exchange).

Google, Microsoft Entra ID and Apple are OpenID Connect (oidc.py); GitHub speaks plain OAuth 2 (github.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from identity.oauth.config import ProviderConfig
from identity.oauth.errors import OAuthDenied, ProviderUnavailable

_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says signed in: stable subject, email (and whether the provider verified it), name."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    display_name: str | None


class OAuthProvider(Protocol):
    config: ProviderConfig

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str: ...

    async def identify(
        self, *, code: str, nonce: str, code_verifier: str, form: dict[str, str]
    ) -> ExternalIdentity: ...

    async def aclose(self) -> None: ...


def oauth_client(config: ProviderConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret.reveal() if config.client_secret else None,
        token_endpoint_auth_method=config.token_auth_method,
        scope=" ".join(config.scopes),
        redirect_uri=config.redirect_uri,
        code_challenge_method="S256",
        timeout=_TIMEOUT_SECONDS,
    )


async def exchange_code(client: AsyncOAuth2Client, token_url: str, code: str, code_verifier: str) -> dict[str, Any]:
    try:
        token = await client.fetch_token(
            token_url, grant_type="authorization_code", code=code, code_verifier=code_verifier
        )
    except OAuthError as exc:
        # invalid_grant and friends: a replayed, expired or foreign code. The code itself is never logged.
        raise OAuthDenied(f"The provider refused the authorization code ({exc.error})") from None
    except Exception as exc:  # httpx2 transport errors, non-JSON bodies: the provider is at fault, not the user
        raise ProviderUnavailable("The sign-in provider's token endpoint failed") from exc
    return dict(token)
