"""Our own small OIDC server for the negative cases: its token endpoint returns an id token the test crafts.

oidc-provider (a certified implementation) never issues a bad token, so a wrong nonce, a foreign audience,
an expired token or a key rotation are produced here, signed by test keys published in this server's JWKS.
Everything else is honest: discovery, the authorize redirect, single-use codes and PKCE S256.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from portal_core.testing import free_port

ClaimsEdit = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class _Grant:
    nonce: str
    client_id: str
    code_challenge: str
    subject: str


@dataclass
class CraftedOidc:
    issuer: str = ""
    published: list[RSAKey] = field(default_factory=list)  # in the JWKS
    signing_key: RSAKey | None = None  # signs the next id tokens (may be unpublished)
    edit: ClaimsEdit | None = None  # rewrites the next id tokens' claims (the negative cases)
    raw_id_token: str | None = None  # sent as is instead of a signed token (alg "none" and such)
    codes: dict[str, _Grant] = field(default_factory=dict)
    jwks_fetches: int = 0
    last_claims: dict[str, Any] = field(default_factory=dict)
    userinfo_subject: str | None = None  # answer userinfo about someone else (None: the signed-in subject)
    access_tokens: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        self.edit, self.raw_id_token, self.signing_key, self.userinfo_subject = None, None, None, None

    def new_key(self, kid: str, *, publish: bool = True) -> RSAKey:
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        if publish:
            self.published.append(key)
        return key

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response(KeySet(list[Any](self.published)).as_dict(private=False))

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        code = secrets.token_hex(8)
        login = q.get("login_hint") or "crafted-user"
        self.codes[code] = _Grant(q.get("nonce", ""), q.get("client_id", ""), q.get("code_challenge", ""), login)
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = self.codes.pop(str(form.get("code", "")), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant.code_challenge != challenge:
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": grant.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "email": f"{grant.subject}@example.test",
            "email_verified": True,
        }
        key = self.signing_key or self.published[0]
        header = {"alg": "RS256", "kid": key.kid}
        self.last_claims = claims
        id_token = self.raw_id_token or jwt.encode(header, self.edit(claims) if self.edit else claims, key)
        access_token = secrets.token_hex(8)
        self.access_tokens[access_token] = grant.subject
        return web.json_response({"access_token": access_token, "token_type": "Bearer", "id_token": id_token})

    async def userinfo(self, request: web.Request) -> web.Response:
        subject = self.access_tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if subject is None:
            raise web.HTTPUnauthorized()
        about = self.userinfo_subject or subject
        return web.json_response({"sub": about, "email": f"{about}@userinfo.test", "email_verified": True})


@asynccontextmanager
async def running_crafted_oidc() -> AsyncIterator[CraftedOidc]:
    server = CraftedOidc()
    server.new_key("crafted-1")
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", server.discovery)
    app.router.add_get("/jwks", server.jwks)
    app.router.add_get("/authorize", server.authorize)
    app.router.add_post("/token", server.token)
    app.router.add_get("/userinfo", server.userinfo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.issuer = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
