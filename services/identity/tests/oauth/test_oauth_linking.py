"""Linking is explicit: only a signed-in user who asks links a provider; an email match is never merged;
the last way to sign in cannot be unlinked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from oauth_browser import Browser
from oauth_support import (
    EventLog,
    Stack,
    csrf_headers,
    linked_accounts,
    me,
    oauth_sign_in,
    password_sign_up,
    start_link,
    unique_login,
)

NewBrowser = Callable[[], Awaitable[httpx.AsyncClient]]


async def link(browser: httpx.AsyncClient, stack: Stack, provider: str, login: str) -> httpx.Response:
    """From a signed-in browser: ask for a link, sign in at the provider, land back on the callback."""
    started = await start_link(browser, stack, provider)
    assert started.status_code == 201, started.text
    to_provider = await browser.get(started.json()["authorization_url"])
    flow = Browser(browser, stack.callback_prefix(provider))
    landed: httpx.Response = await flow.deliver(await flow.sign_in_at_provider(to_provider, login))
    return landed


async def test_an_email_match_is_refused_not_merged(stack: Stack, new_browser: NewBrowser, events: EventLog) -> None:
    email = unique_login("owner")
    owner = (await password_sign_up(await new_browser(), stack, email))["session"]

    attacker = await new_browser()  # controls a provider account that claims the same (verified) email
    refused = await oauth_sign_in(attacker, stack, "google", email)

    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "oauth_account_exists"
    assert "sign in" in problem["detail"].lower()
    assert "link" in problem["detail"].lower()
    assert stack.settings.session_cookie_name not in attacker.cookies
    assert (await me(attacker, stack)).status_code == 401
    attempt = await events.wait_for("portal.identity.login.failed.v1", owner["user_id"])  # the owner can be told
    assert attempt.data["method"] == "oauth:google"
    assert attempt.headers["ce-outcome"] == "failure"


async def test_a_signed_in_user_links_a_provider_and_then_signs_in_with_it(
    stack: Stack, new_browser: NewBrowser, events: EventLog
) -> None:
    browser = await new_browser()
    account = (await password_sign_up(browser, stack, unique_login("linker")))["session"]
    provider_login = unique_login("other-address")  # the provider account's email need not match

    landed = await link(browser, stack, "microsoft", provider_login)

    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/settings/accounts?linked=microsoft"
    [linked] = await linked_accounts(browser, stack)
    assert linked["provider"] == "microsoft"
    assert linked["email"] == provider_login
    event = await events.wait_for("portal.identity.oauth_account.linked.v1", account["user_id"])
    assert event.data["account_id"] == linked["id"]

    elsewhere = await new_browser()
    assert (await oauth_sign_in(elsewhere, stack, "microsoft", provider_login)).status_code == 303
    assert (await me(elsewhere, stack)).json()["id"] == account["user_id"]

    unlinked = await browser.delete(
        f"{stack.gateway_url}/api/identity/v1/linked-accounts/{linked['id']}",
        headers=csrf_headers(browser, stack.settings),
    )
    assert unlinked.status_code == 204, unlinked.text  # the password remains a way in
    assert await linked_accounts(browser, stack) == []
    await events.wait_for("portal.identity.oauth_account.unlinked.v1", account["user_id"])
    # Unlinked: the provider account no longer reaches this user (it signs up as a new account of its own).
    stranger = await new_browser()
    assert (await oauth_sign_in(stranger, stack, "microsoft", provider_login)).status_code == 303
    assert (await me(stranger, stack)).json()["id"] != account["user_id"]


async def test_linking_needs_a_session(stack: Stack, new_browser: NewBrowser) -> None:
    response = await start_link(await new_browser(), stack, "google")
    assert response.status_code == 401


async def test_a_provider_account_linked_elsewhere_is_refused(stack: Stack, new_browser: NewBrowser) -> None:
    taken = unique_login("taken")
    assert (await oauth_sign_in(await new_browser(), stack, "github", taken)).status_code == 303

    browser = await new_browser()
    await password_sign_up(browser, stack, unique_login("second"))
    refused = await link(browser, stack, "github", taken)

    assert refused.status_code == 409
    assert refused.json()["code"] == "oauth_already_linked"
    assert await linked_accounts(browser, stack) == []


async def test_the_last_way_to_sign_in_cannot_be_unlinked(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    login = unique_login("only-oauth")
    assert (await oauth_sign_in(browser, stack, "google", login)).status_code == 303
    [google] = await linked_accounts(browser, stack)
    url = f"{stack.gateway_url}/api/identity/v1/linked-accounts"

    refused = await browser.delete(f"{url}/{google['id']}", headers=csrf_headers(browser, stack.settings))
    assert refused.status_code == 409
    assert refused.json()["code"] == "last_sign_in_method"

    assert (await link(browser, stack, "github", unique_login("second-way"))).status_code == 303
    assert (
        await browser.delete(f"{url}/{google['id']}", headers=csrf_headers(browser, stack.settings))
    ).status_code == 204
    [github] = await linked_accounts(browser, stack)
    assert github["provider"] == "github"
    refused_again = await browser.delete(f"{url}/{github['id']}", headers=csrf_headers(browser, stack.settings))
    assert refused_again.status_code == 409


async def test_another_users_link_is_not_found(stack: Stack, new_browser: NewBrowser) -> None:
    owner = await new_browser()
    assert (await oauth_sign_in(owner, stack, "google", unique_login("a"))).status_code == 303
    [link_a] = await linked_accounts(owner, stack)
    other = await new_browser()
    await password_sign_up(other, stack, unique_login("b"))
    response = await other.delete(
        f"{stack.gateway_url}/api/identity/v1/linked-accounts/{link_a['id']}",
        headers=csrf_headers(other, stack.settings),
    )
    assert response.status_code == 404
    assert len(await linked_accounts(owner, stack)) == 1


async def test_linked_accounts_page_with_a_cursor(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    assert (await oauth_sign_in(browser, stack, "google", unique_login("pager"))).status_code == 303
    assert (await link(browser, stack, "github", unique_login("pager-gh"))).status_code == 303
    url = f"{stack.gateway_url}/api/identity/v1/linked-accounts"
    first = (await browser.get(url, params={"limit": 1})).json()
    assert len(first["items"]) == 1
    second = (await browser.get(url, params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [*first["items"], *second["items"]] == await linked_accounts(browser, stack)
    assert second["next_cursor"] is None
    forged = await browser.get(url, params={"cursor": "not-a-cursor"})
    assert forged.status_code == 400
