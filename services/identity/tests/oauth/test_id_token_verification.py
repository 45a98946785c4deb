"""Id token checks, against our own crafted OIDC server: oidc-provider never issues a bad token, so these
negative cases (wrong nonce, another client's token, expired, forged signature, rotated keys) are made
by a small local server whose token endpoint returns what the test crafts, through the same OidcProvider
code path the callback uses."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from identity.oauth.config import OidcEndpoints, ProviderConfig
from identity.oauth.errors import InvalidIdToken
from identity.oauth.oidc import OidcProvider
from identity.oauth.providers import ExternalIdentity
from joserfc import jwt
from joserfc.jwk import OctKey
from oauth_crafted_oidc import CraftedOidc
from portal_core.settings import Secret

CLIENT_ID = "crafted-client"


@pytest.fixture
async def provider(crafted: CraftedOidc) -> AsyncIterator[OidcProvider]:
    crafted.reset()
    config = ProviderConfig(
        name="google",
        client_id=CLIENT_ID,
        client_secret=Secret("crafted-secret"),
        endpoints=OidcEndpoints(crafted.issuer),
        scopes=("openid", "email"),
        redirect_uri="http://127.0.0.1:9/api/oauth/google/callback",
    )
    async with httpx.AsyncClient() as http:
        client = OidcProvider(config, http)
        yield client
        await client.aclose()


async def sign_in(provider: OidcProvider, login: str = "crafted-user") -> ExternalIdentity:
    """What the callback does: authorize (the crafted server redirects straight back), then identify."""
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(64)
    url = await provider.authorization_url(state="s", nonce=nonce, code_verifier=verifier)
    async with httpx.AsyncClient() as browser:
        redirect = await browser.get(f"{url}&{urlencode({'login_hint': login})}")
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    return await provider.identify(code=code, nonce=nonce, code_verifier=verifier, form={})


def edited(**changes: Any) -> Any:
    return lambda claims: {**claims, **changes}


async def test_an_honest_token_is_accepted(provider: OidcProvider) -> None:
    identity = await sign_in(provider, "honest")
    assert identity.subject == "honest"
    assert identity.email == "honest@example.test"
    assert identity.email_verified is True


@pytest.mark.parametrize(
    ("case", "edit"),
    [
        ("wrong nonce", edited(nonce="another-sign-in")),
        ("no nonce", lambda claims: {k: v for k, v in claims.items() if k != "nonce"}),
        ("another client's token", edited(aud="someone-else")),
        ("us among audiences, another authorized party", edited(aud=[CLIENT_ID, "x"], azp="x")),
        ("expired", edited(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        ("issued in the future", edited(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)),
        ("another issuer", edited(iss="https://accounts.evil.example")),
        ("no subject", lambda claims: {k: v for k, v in claims.items() if k != "sub"}),
    ],
)
async def test_a_crafted_token_is_refused(crafted: CraftedOidc, provider: OidcProvider, case: str, edit: Any) -> None:
    crafted.edit = edit
    with pytest.raises(InvalidIdToken):
        await sign_in(provider)


async def test_a_signature_by_an_unpublished_key_is_refused(crafted: CraftedOidc, provider: OidcProvider) -> None:
    await sign_in(provider)  # JWKS fetched and cached
    impostor = crafted.new_key(crafted.published[0].kid or "", publish=False)  # same kid, other key
    crafted.signing_key = impostor
    with pytest.raises(InvalidIdToken):
        await sign_in(provider)


async def test_unsigned_and_symmetric_tokens_are_refused(crafted: CraftedOidc, provider: OidcProvider) -> None:
    claims = {"iss": crafted.issuer, "aud": CLIENT_ID, "sub": "x", "iat": int(time.time()), "exp": 2**31}

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    crafted.raw_id_token = f"{b64({'alg': 'none'})}.{b64(claims)}."
    with pytest.raises(InvalidIdToken):
        await sign_in(provider)
    # HS256 keyed with the client secret: anyone holding the secret could mint it; only asymmetric keys count.
    crafted.raw_id_token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key("crafted-secret" * 3))
    with pytest.raises(InvalidIdToken):
        await sign_in(provider)


async def test_keys_are_refetched_once_for_an_unknown_kid(crafted: CraftedOidc, provider: OidcProvider) -> None:
    await sign_in(provider)
    fetched = crafted.jwks_fetches
    crafted.signing_key = crafted.new_key(f"rotated-{secrets.token_hex(4)}")  # the provider rotates

    assert (await sign_in(provider)).subject == "crafted-user"
    assert crafted.jwks_fetches == fetched + 1
    assert (await sign_in(provider)).subject == "crafted-user"
    assert crafted.jwks_fetches == fetched + 1  # cached again

    crafted.signing_key = crafted.new_key("never-published", publish=False)
    with pytest.raises(InvalidIdToken):
        await sign_in(provider)
    with pytest.raises(InvalidIdToken):
        await sign_in(provider)
    # An unknown kid refetches at most every 30 s: forged kids cannot make us hammer the provider.
    assert crafted.jwks_fetches == fetched + 1


async def test_userinfo_fills_in_an_email_the_id_token_lacks(crafted: CraftedOidc, provider: OidcProvider) -> None:
    crafted.edit = lambda claims: {k: v for k, v in claims.items() if k not in ("email", "email_verified")}
    identity = await sign_in(provider, "quiet")
    assert identity.email == "quiet@userinfo.test"
    assert identity.email_verified is True

    crafted.userinfo_subject = "somebody-else"  # OIDC core 5.3.2: userinfo about another subject is ignored
    other = await sign_in(provider, "quiet")
    assert other.email is None
    assert other.email_verified is False
