"""Sign-in with each provider, driven as a browser through the gateway, against a real OIDC provider
(npm oidc-provider, standing in for Google, Microsoft Entra ID and Apple) and a GitHub fake."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oauth_browser import Browser
from oauth_support import EventLog, Stack, me, oauth_sign_in, reach_callback, unique_login

NewBrowser = Callable[[], Awaitable[httpx.AsyncClient]]


@pytest.mark.parametrize("provider", ["google", "microsoft", "apple", "github"])
async def test_a_new_account_signs_up_then_signs_in_again(
    provider: str, stack: Stack, new_browser: NewBrowser, events: EventLog
) -> None:
    login = unique_login(f"{provider}-user")
    browser = await new_browser()
    callback = await reach_callback(browser, stack, provider, login, return_to="/welcome")
    # Apple answers with a POST (response_mode=form_post); the others redirect back with a GET.
    assert callback.method == ("POST" if provider == "apple" else "GET")
    landed = await Browser(browser, stack.callback_prefix(provider)).deliver(callback)

    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/welcome"
    assert browser.cookies.get(stack.settings.session_cookie_name)
    first = await me(browser, stack)
    assert first.status_code == 200, first.text
    account = first.json()
    assert account["email"] == login
    assert account["has_password"] is False
    assert account["role"] == "owner"  # a new tenant of their own

    again = await new_browser()
    assert (await oauth_sign_in(again, stack, provider, login)).status_code == 303
    second = await me(again, stack)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == account["id"]
    assert second.json()["display_name"] == account["display_name"]  # Apple sent the name only the first time

    created = await events.wait_for("portal.identity.user.created.v1", account["id"])
    assert created.data["method"] == f"oauth:{provider}"
    linked = await events.wait_for("portal.identity.oauth_account.linked.v1", account["id"])
    assert linked.data["provider"] == provider
    await events.wait_for("portal.identity.login.succeeded.v1", account["id"])
    secrets = [browser.cookies[stack.settings.session_cookie_name], again.cookies[stack.settings.session_cookie_name]]
    secrets.append(parse_qs(urlsplit(callback.url).query).get("code", [callback.form.get("code", "")])[0])
    for event in events.about(account["id"]):
        assert not any(secret and secret.encode() in event.raw for secret in secrets), event.subject


async def test_names_come_from_the_provider(stack: Stack, new_browser: NewBrowser) -> None:
    names = {}
    for provider in ("google", "apple", "github"):
        login = unique_login("ada")
        browser = await new_browser()
        assert (await oauth_sign_in(browser, stack, provider, login)).status_code == 303
        names[provider] = (await me(browser, stack)).json()["display_name"]
    assert names["google"].endswith(" Tester")  # the id token's `name`
    assert names["apple"].endswith(" Tester")  # the `user` form field of Apple's first authorization
    assert names["github"].endswith(" Octo")  # GET /user


async def test_providers_are_listed_and_unknown_ones_refused(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    listed = await browser.get(f"{stack.gateway_url}/api/oauth/providers")
    assert listed.json() == {"providers": ["apple", "github", "google", "microsoft"]}
    unknown = await browser.get(f"{stack.gateway_url}/api/oauth/facebook/authorize")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "oauth_provider_not_enabled"


async def test_return_to_must_stay_on_this_site(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/caf\u00e9", "/a b"):
        response = await browser.get(f"{stack.gateway_url}/api/oauth/google/authorize", params={"return_to": target})
        assert response.status_code == 400, target
        assert response.headers["content-type"].startswith("application/problem+json")
