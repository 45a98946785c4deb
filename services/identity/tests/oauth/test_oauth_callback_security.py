"""The callback against a real provider (oidc-provider) with a tampering browser: state, nonce, PKCE,
replays, a callback delivered in another browser, a provider error; none of them signs anyone in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from oauth_browser import Browser, CallbackRequest
from oauth_support import EventLog, Stack, me, reach_callback, unique_login

NewBrowser = Callable[[], Awaitable[httpx.AsyncClient]]


def with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def state_of(callback: CallbackRequest) -> str:
    return str(callback.form.get("state") or parse_qs(urlsplit(callback.url).query)["state"][0])


def tampered(callback: CallbackRequest, **changes: str) -> CallbackRequest:
    if callback.method == "POST":
        return CallbackRequest("POST", callback.url, {**callback.form, **changes})
    return CallbackRequest("GET", with_param(callback.url, **changes))


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.mark.parametrize("provider", ["google", "apple", "github"])
async def test_a_tampered_state_is_refused(
    provider: str, stack: Stack, new_browser: NewBrowser, events: EventLog
) -> None:
    browser = await new_browser()
    callback = await reach_callback(browser, stack, provider, unique_login("state"))
    flow = Browser(browser, stack.callback_prefix(provider))
    failures_before = sum(e.subject == "portal.identity.login.failed.v1" for e in events.events)

    assert_refused(
        await flow.deliver(tampered(callback, state=state_of(callback)[:-2] + "xy")), 400, "oauth_invalid_state"
    )
    assert stack.settings.session_cookie_name not in browser.cookies

    # The untouched callback still works: the refusal came from the state check and nothing else.
    assert (await flow.deliver(callback)).status_code == 303
    assert (await me(browser, stack)).status_code == 200
    failed = [e for e in events.events if e.subject == "portal.identity.login.failed.v1"]
    assert len(failed) > failures_before
    assert all(state_of(callback).encode() not in e.raw for e in failed)


async def test_a_callback_is_single_use(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    callback = await reach_callback(browser, stack, "microsoft", unique_login("replay"))
    flow = Browser(browser, stack.callback_prefix("microsoft"))
    assert (await flow.deliver(callback)).status_code == 303
    assert_refused(await flow.deliver(callback), 400, "oauth_invalid_state")


async def test_a_callback_delivered_in_another_browser_is_refused(stack: Stack, new_browser: NewBrowser) -> None:
    # Login CSRF: an attacker's own callback URL, sent to a victim, must not sign the victim in as the attacker.
    attacker = await new_browser()
    callback = await reach_callback(attacker, stack, "google", unique_login("attacker"))
    victim = await new_browser()
    assert_refused(await Browser(victim, stack.callback_prefix("google")).deliver(callback), 400, "oauth_invalid_state")
    assert stack.settings.session_cookie_name not in victim.cookies


async def test_a_wrong_nonce_is_refused(stack: Stack, new_browser: NewBrowser) -> None:
    # The browser swaps the nonce on its way to the provider: the real provider signs a token with it.
    browser = await new_browser()
    start = await browser.get(f"{stack.gateway_url}/api/oauth/google/authorize")
    start.headers["location"] = with_param(start.headers["location"], nonce="injected-nonce")
    callback = await Browser(browser, stack.callback_prefix("google")).sign_in_at_provider(start, unique_login("n"))
    landed = await Browser(browser, stack.callback_prefix("google")).deliver(callback)
    assert_refused(landed, 401, "oauth_invalid_id_token")
    assert stack.settings.session_cookie_name not in browser.cookies


async def test_pkce_binds_the_code_to_the_flow(stack: Stack, new_browser: NewBrowser) -> None:
    # A code obtained under another code_challenge is refused by the provider's token endpoint.
    browser = await new_browser()
    start = await browser.get(f"{stack.gateway_url}/api/oauth/microsoft/authorize")
    assert "code_challenge_method=S256" in start.headers["location"]
    start.headers["location"] = with_param(start.headers["location"], code_challenge="A" * 43)
    callback = await Browser(browser, stack.callback_prefix("microsoft")).sign_in_at_provider(start, unique_login("p"))
    assert_refused(await Browser(browser, stack.callback_prefix("microsoft")).deliver(callback), 400, "oauth_denied")


async def test_a_provider_refusal_signs_nobody_in(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    start = await browser.get(f"{stack.gateway_url}/api/oauth/google/authorize")
    interaction = await browser.get(start.headers["location"])  # to the provider's login page
    page = await browser.get(httpx.URL(start.headers["location"]).join(interaction.headers["location"]))
    uid = urlsplit(str(page.url)).path.rstrip("/").split("/")[-1]
    response = await browser.get(f"{stack.issuer}/interaction/{uid}/abort")  # the user clicks "cancel"
    while response.is_redirect and not response.headers["location"].startswith(stack.callback_prefix("google")):
        response = await browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
    assert "error=access_denied" in response.headers["location"]
    landed = await browser.get(response.headers["location"])
    assert_refused(landed, 400, "oauth_denied")
    assert stack.settings.session_cookie_name not in browser.cookies


async def test_a_bogus_callback_is_a_problem_not_a_crash(stack: Stack, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    url = stack.callback_prefix("google")
    assert_refused(await browser.get(url), 400, "oauth_invalid_state")
    assert_refused(await browser.get(url, params={"state": "x" * 5000, "code": "y"}), 400, "oauth_invalid_state")
    assert_refused(await browser.post(url, json={"state": "x"}), 400, "oauth_invalid_state")
    assert_refused(await browser.post(url, data={"state": "x", "code": "y"}), 400, "oauth_invalid_state")


async def test_no_code_state_or_token_reaches_the_logs(
    stack: Stack, new_browser: NewBrowser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = await new_browser()
    callback = await reach_callback(browser, stack, "google", unique_login("logs"))
    flow = Browser(browser, stack.callback_prefix("google"))
    assert (await flow.deliver(tampered(callback, state="forged-state-value"))).status_code == 400
    assert (await flow.deliver(callback)).status_code == 303
    code = parse_qs(urlsplit(callback.url).query)["code"][0]
    secrets = [code, state_of(callback), "forged-state-value", browser.cookies[stack.settings.session_cookie_name]]

    # uvicorn's access log is off in production (portal_core.server); only pytest's capture handlers wake it here.
    logged = "\n".join(str(r.msg) for r in caplog.records if r.name != "uvicorn.access")
    assert "oauth sign-in refused" in logged  # the capture sees identity's log lines
    for secret in secrets:
        assert secret not in logged
