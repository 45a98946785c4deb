"""A test browser: follows redirects and submits the provider's forms the way a person clicking would.

It stops at our own callback (a redirect to it, or Apple's auto-submitting form_post page) and hands
that request back, so a test can deliver it as is or tamper with it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").upper()))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def forms_in(html: str, base_url: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        form.action = urljoin(base_url, form.action)
    return parser.forms


@dataclass
class CallbackRequest:
    """The request the browser is about to send to our callback."""

    method: str
    url: str
    form: dict[str, str] = field(default_factory=dict)


class Browser:
    def __init__(self, client: httpx.AsyncClient, callback_prefix: str) -> None:
        self.client = client
        self.callback_prefix = callback_prefix

    async def sign_in_at_provider(self, start: httpx.Response, login: str, max_steps: int = 20) -> CallbackRequest:
        """From our authorize redirect, through the provider's login and consent, up to our callback."""
        response = start
        for _ in range(max_steps):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(self.callback_prefix):
                    return CallbackRequest("GET", location)
                response = await self.client.get(location)
                continue
            assert response.status_code == 200, f"provider answered {response.status_code}: {response.text[:500]}"
            forms = forms_in(response.text, str(response.url))
            assert forms, f"no form on the provider's page: {response.text[:500]}"
            form = forms[0]
            if form.action.startswith(self.callback_prefix):  # form_post: the page posts itself to us
                return CallbackRequest("POST", form.action, form.fields)
            if "login" in form.fields:
                form.fields.update(login=login, password="any-password")  # the dev provider takes any password
            response = await self.client.request(form.method, form.action, data=form.fields)
        raise AssertionError("the provider never sent the browser back to the callback")

    async def deliver(self, callback: CallbackRequest) -> httpx.Response:
        if callback.method == "POST":
            return await self.client.post(callback.url, data=callback.form)
        return await self.client.get(callback.url)
