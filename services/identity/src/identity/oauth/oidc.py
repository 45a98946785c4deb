"""Google, Microsoft Entra ID, Apple: OpenID Connect with the authorization code, PKCE and a verified id token."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec

from identity.oauth.apple import AppleClientSecret
from identity.oauth.config import OidcEndpoints, ProviderConfig
from identity.oauth.errors import InvalidIdToken, ProviderUnavailable
from identity.oauth.id_token import verify_id_token
from identity.oauth.jwks import JwksCache
from identity.oauth.providers import ExternalIdentity, exchange_code, oauth_client

_DISCOVERY_MAX_AGE_SECONDS = 24 * 3600.0


class OidcProvider:
    """Google, Microsoft Entra ID, Apple: authorization code + PKCE, id token verified against the JWKS."""

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        assert isinstance(config.endpoints, OidcEndpoints)
        self.config = config
        self._endpoints = config.endpoints
        self._http = http
        self._client = oauth_client(config)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: JwksCache | None = None
        self._apple_secret = (
            AppleClientSecret(config.apple_key, config.client_id, self._endpoints.issuer) if config.apple_key else None
        )

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        extra = {"response_mode": "form_post"} if self.config.response_mode == "form_post" else {}
        url, _ = self._client.create_authorization_url(
            await self._endpoint("authorization_endpoint", self._endpoints.authorize_url),
            state=state,
            code_verifier=code_verifier,
            nonce=nonce,
            **extra,
        )
        return str(url)

    async def identify(self, *, code: str, nonce: str, code_verifier: str, form: dict[str, str]) -> ExternalIdentity:
        if self._apple_secret is not None:
            self._client.client_secret = self._apple_secret.current()
        token_url = await self._endpoint("token_endpoint", self._endpoints.token_url)
        token = await exchange_code(self._client, token_url, code, code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidIdToken("The provider sent no identity token")
        claims = await verify_id_token(
            id_token,
            jwks=await self._jwks_cache(),
            issuer=self._endpoints.issuer,
            client_id=self.config.client_id,
            nonce=nonce,
        )
        if "email" not in claims:
            claims = {**await self._userinfo(token, claims["sub"]), **claims}
        return ExternalIdentity(
            provider=self.config.name,
            subject=claims["sub"],
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            email_verified=self._email_verified(claims),
            display_name=_apple_name(form) if self.config.name == "apple" else _claims_name(claims),
        )

    def _email_verified(self, claims: dict[str, Any]) -> bool:
        # Entra ID's `email` is user-editable: trust it only when the domain owner verified it (xms_edov).
        flag = claims.get("xms_edov") if self.config.name == "microsoft" else claims.get("email_verified")
        return flag is True or flag == "true"  # Apple sends the string "true"

    async def _userinfo(self, token: dict[str, Any], subject: str) -> dict[str, Any]:
        url = await self._endpoint("userinfo_endpoint", self._endpoints.userinfo_url, required=False)
        access_token = token.get("access_token")
        if not url or not isinstance(access_token, str):
            return {}
        try:
            response = await self._http.get(url, headers={"authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            info: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable("The sign-in provider's userinfo endpoint failed") from exc
        # OIDC core 5.3.2: userinfo about another subject than the id token is discarded.
        return info if info.get("sub") == subject else {}

    async def _jwks_cache(self) -> JwksCache:
        if self._jwks is None:
            self._jwks = JwksCache(self._http, await self._endpoint("jwks_uri", self._endpoints.jwks_url))
        return self._jwks

    async def _endpoint(self, name: str, override: str | None, *, required: bool = True) -> str:
        if override:
            return override
        value = (await self._discovery()).get(name)
        if not isinstance(value, str) or not value:
            if required:
                raise ProviderUnavailable(f"The provider's discovery document has no {name}")
            return ""
        return value

    async def _discovery(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._metadata is None or now - self._metadata_at > _DISCOVERY_MAX_AGE_SECONDS:
            url = self._endpoints.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = await self._http.get(url)
                response.raise_for_status()
                metadata = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise ProviderUnavailable("The sign-in provider's discovery document could not be fetched") from exc
            # OIDC discovery 4.3: the document must name the issuer we asked, or someone else answered.
            if not isinstance(metadata, dict) or metadata.get("issuer") != self._endpoints.issuer:
                raise ProviderUnavailable("The sign-in provider's discovery document names another issuer")
            self._metadata, self._metadata_at = metadata, now
        return self._metadata

    async def aclose(self) -> None:
        await self._client.aclose()


def _claims_name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    parts = [claims.get("given_name"), claims.get("family_name")]
    joined = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    return joined or None


def _apple_name(form: dict[str, str]) -> str | None:
    """Apple posts `user` (JSON with the name) on the first authorization only; later sign-ins have none."""
    try:
        user = msgspec.json.decode(form.get("user", "") or "null")
    except msgspec.DecodeError:
        return None
    name = user.get("name") if isinstance(user, dict) else None
    if not isinstance(name, dict):
        return None
    parts = [name.get("firstName"), name.get("lastName")]
    joined = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return joined[:200] or None
