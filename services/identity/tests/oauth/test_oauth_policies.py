"""OAuth sign-in meets the account rules: MFA still asked, unverified emails refused, links die with the
session that asked for them, and the routes are documented in identity's OpenAPI."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
import pyotp
import pytest
from oauth_browser import Browser
from oauth_support import (
    Stack,
    csrf_headers,
    me,
    oauth_sign_in,
    password_sign_up,
    start_link,
    unique_login,
)

NewBrowser = Callable[[], Awaitable[httpx.AsyncClient]]


async def test_an_account_with_mfa_must_pass_it_after_oauth(stack: Stack, new_browser: NewBrowser) -> None:
    login = unique_login("mfa")
    browser = await new_browser()
    assert (await oauth_sign_in(browser, stack, "google", login)).status_code == 303
    api = f"{stack.gateway_url}/api/identity/v1"
    enrolment = await browser.post(f"{api}/mfa/totp/enrol", headers=csrf_headers(browser, stack.settings))
    assert enrolment.status_code == 201, enrolment.text
    totp = pyotp.TOTP(enrolment.json()["secret"])
    confirmed = await browser.post(
        f"{api}/mfa/totp/confirm", json={"code": totp.now()}, headers=csrf_headers(browser, stack.settings)
    )
    assert confirmed.status_code == 200, confirmed.text

    later = await new_browser()
    landed = await oauth_sign_in(later, stack, "google", login)
    assert landed.status_code == 303
    assert landed.headers["location"] == "/?mfa=required"
    assert stack.settings.session_cookie_name not in later.cookies  # no session before the second factor
    assert (await me(later, stack)).status_code == 401

    # The code of the previous time step: still in the window, and not the one enrolment consumed.
    second = await later.post(f"{api}/login/mfa", json={"code": totp.at(time.time() - 30)})
    assert second.status_code == 200, second.text
    assert (await me(later, stack)).json()["mfa_enabled"] is True


@pytest.mark.parametrize("provider", ["google", "microsoft", "github"])
async def test_an_unverified_email_does_not_make_an_account(
    provider: str, stack: Stack, new_browser: NewBrowser
) -> None:
    browser = await new_browser()
    refused = await oauth_sign_in(browser, stack, provider, unique_login("unverified"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "oauth_email_not_verified"
    assert stack.settings.session_cookie_name not in browser.cookies


async def test_a_link_needs_the_session_that_asked_for_it(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    await password_sign_up(browser, stack, unique_login("leaver"))
    started = await start_link(browser, stack, "google")
    assert started.status_code == 201
    logout = await browser.post(
        f"{stack.gateway_url}/api/identity/v1/logout", headers=csrf_headers(browser, stack.settings)
    )
    assert logout.status_code == 204, logout.text

    flow = Browser(browser, stack.callback_prefix("google"))
    callback = await flow.sign_in_at_provider(await browser.get(started.json()["authorization_url"]), unique_login("x"))
    refused = await flow.deliver(callback)
    assert refused.status_code == 400
    assert refused.json()["code"] == "oauth_invalid_state"


async def test_the_routes_are_in_identitys_openapi(stack: Stack, new_browser: NewBrowser) -> None:
    document = (await (await new_browser()).get(f"{stack.gateway_url}/api/identity/openapi.json")).json()
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/api/oauth/{provider}/callback"])
    assert "get" in paths["/api/oauth/{provider}/authorize"]
    assert "get" in paths["/api/identity/v1/linked-accounts"]
    assert "post" in paths["/api/identity/v1/linked-accounts/link-requests"]
    assert "delete" in paths["/api/identity/v1/linked-accounts/{link_id}"]
