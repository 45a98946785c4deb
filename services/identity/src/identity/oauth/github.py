"""GitHub: OAuth 2 (no id token); the account is GET /user, its verified primary email GET /user/emails."""

from __future__ import annotations

from typing import TypeVar

import httpx
import msgspec

from identity.oauth.config import GitHubEndpoints, ProviderConfig
from identity.oauth.errors import ProviderUnavailable
from identity.oauth.providers import ExternalIdentity, exchange_code, oauth_client

T = TypeVar("T")


class _GitHubUser(msgspec.Struct):
    id: int
    login: str
    name: str | None = None


class _GitHubEmail(msgspec.Struct):
    email: str
    primary: bool = False
    verified: bool = False


class GitHubProvider:
    """GitHub: OAuth 2 (no id token); the account is GET /user, its verified primary email GET /user/emails."""

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        assert isinstance(config.endpoints, GitHubEndpoints)
        self.config = config
        self._endpoints = config.endpoints
        self._http = http
        self._client = oauth_client(config)

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        url, _ = self._client.create_authorization_url(
            self._endpoints.authorize_url, state=state, code_verifier=code_verifier, allow_signup="true"
        )
        return str(url)

    async def identify(self, *, code: str, nonce: str, code_verifier: str, form: dict[str, str]) -> ExternalIdentity:
        token = await exchange_code(self._client, self._endpoints.token_url, code, code_verifier)
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise ProviderUnavailable("GitHub sent no access token")
        headers = {
            "authorization": f"Bearer {access_token}",
            "accept": "application/vnd.github+json",
            "x-github-api-version": "2022-11-28",
        }
        user = await self._get(f"{self._endpoints.api_url}/user", headers, _GitHubUser)
        emails = await self._get(f"{self._endpoints.api_url}/user/emails", headers, list[_GitHubEmail])
        primary = next((e for e in emails if e.primary), None)
        return ExternalIdentity(
            provider="github",
            subject=str(user.id),  # the numeric id: a login can be renamed and then taken by someone else
            email=primary.email if primary else None,
            email_verified=bool(primary and primary.verified),
            display_name=user.name or user.login,
        )

    async def _get(self, url: str, headers: dict[str, str], kind: type[T]) -> T:
        try:
            response = await self._http.get(url, headers=headers)
            response.raise_for_status()
            return msgspec.json.decode(response.content, type=kind)
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            raise ProviderUnavailable("GitHub's API failed") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
