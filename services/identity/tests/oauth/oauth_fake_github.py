"""A local server speaking GitHub's OAuth 2 web flow and the two REST routes we call (GitHub cannot run here).

Wire behaviour copied from GitHub's docs: the authorize page, `POST /login/oauth/access_token` (form in,
JSON out with `Accept: application/json`, errors as 200 + `{"error": ...}`), PKCE S256, single-use codes
bound to client and redirect_uri, and `GET /user`, `GET /user/emails` with a bearer token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web
from portal_core.testing import free_port


@dataclass
class _Grant:
    login: str
    client_id: str
    redirect_uri: str
    code_challenge: str


@dataclass
class FakeGitHub:
    client_id: str
    client_secret: str
    redirect_uri: str
    base_url: str = ""
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_requests: int = 0

    @staticmethod
    def user_id(login: str) -> int:
        return zlib.crc32(login.encode()) + 1000

    async def authorize_page(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("redirect_uri") != self.redirect_uri:
            return web.Response(status=400, text="The redirect_uri MUST match the registered callback URL")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="PKCE S256 expected by this fake")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""))}"/>'
            for k in ("client_id", "redirect_uri", "state", "code_challenge")
        )
        body = f'<form method="post" action="/login/oauth/authorize">{hidden}<input name="login" value=""/></form>'
        return web.Response(text=body, content_type="text/html")

    async def authorize_submit(self, request: web.Request) -> web.Response:
        form = await request.post()
        code = secrets.token_hex(10)
        self.codes[code] = _Grant(
            str(form["login"]), str(form["client_id"]), str(form["redirect_uri"]), str(form["code_challenge"])
        )
        location = f"{form['redirect_uri']!s}?{urlencode({'code': code, 'state': str(form['state'])})}"
        raise web.HTTPFound(location)

    async def access_token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "incorrect_client_credentials"})
        grant = self.codes.pop(str(form.get("code", "")), None)  # single use
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant.redirect_uri != form.get("redirect_uri") or grant.code_challenge != challenge:
            return web.json_response({"error": "bad_verification_code", "error_description": "The code is wrong"})
        token = "gho_" + secrets.token_hex(18)
        self.tokens[token] = grant.login
        return web.json_response({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

    def _login(self, request: web.Request) -> str:
        header = request.headers.get("authorization", "")
        login = self.tokens.get(header.removeprefix("Bearer ").removeprefix("token "))
        if login is None:
            raise web.HTTPUnauthorized(text='{"message": "Bad credentials"}', content_type="application/json")
        return login

    async def user(self, request: web.Request) -> web.Response:
        login = self._login(request).partition("@")[0]  # a test signs in as an email; GitHub logins have no "@"
        return web.json_response({"id": self.user_id(login), "login": login, "name": f"{login.title()} Octo"})

    async def emails(self, request: web.Request) -> web.Response:
        email = self._login(request)
        login = email.partition("@")[0]
        return web.json_response(
            [
                {"email": f"{login}@users.noreply.github.test", "primary": False, "verified": True},
                {
                    "email": email if "@" in email else f"{login}@example.test",
                    "primary": True,
                    "verified": not login.startswith("unverified"),
                    "visibility": "private",
                },
            ]
        )


@asynccontextmanager
async def running_fake_github(client_id: str, client_secret: str, redirect_uri: str) -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub(client_id, client_secret, redirect_uri)
    app = web.Application()
    app.router.add_get("/login/oauth/authorize", fake.authorize_page)
    app.router.add_post("/login/oauth/authorize", fake.authorize_submit)
    app.router.add_post("/login/oauth/access_token", fake.access_token)
    app.router.add_get("/api/user", fake.user)
    app.router.add_get("/api/user/emails", fake.emails)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
