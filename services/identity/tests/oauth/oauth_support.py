"""What the OAuth tests share: the running stack, the event log, and the browser flows they repeat."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from identity.settings import IdentitySettings
from oauth_browser import Browser, CallbackRequest
from oauth_fake_github import FakeGitHub

APPLE_TEAM_ID = "TEAM123456"
APPLE_KEY_ID = "KEY1234567"


@dataclass
class Stack:
    settings: IdentitySettings
    gateway_url: str
    identity_url: str
    issuer: str
    github: FakeGitHub

    def callback_prefix(self, provider: str) -> str:
        return f"{self.gateway_url}/api/oauth/{provider}/callback"


@dataclass
class Event:
    subject: str
    headers: dict[str, str]
    raw: bytes
    data: dict[str, Any]


@dataclass
class EventLog:
    events: list[Event] = field(default_factory=list)

    def add(self, subject: str, headers: dict[str, str], raw: bytes, data: dict[str, Any]) -> None:
        self.events.append(Event(subject, headers, raw, data))

    def about(self, user_id: str) -> list[Event]:
        return [e for e in self.events if e.data.get("user_id") == user_id]

    async def wait_for(self, subject: str, user_id: str, timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.about(user_id):
                if event.subject == subject:
                    return event
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {subject} for {user_id}; saw {[e.subject for e in self.about(user_id)]}")


def unique_login(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.test"


def csrf_headers(client: httpx.AsyncClient, settings: IdentitySettings) -> dict[str, str]:
    return {"x-csrf-token": client.cookies.get(settings.csrf_cookie_name) or ""}


async def reach_callback(
    client: httpx.AsyncClient, stack: Stack, provider: str, login: str, *, return_to: str = "/"
) -> CallbackRequest:
    """Start at our authorize route (through the gateway) and sign in at the provider, up to our callback."""
    start = await client.get(f"{stack.gateway_url}/api/oauth/{provider}/authorize", params={"return_to": return_to})
    assert start.status_code == 302, start.text
    return await Browser(client, stack.callback_prefix(provider)).sign_in_at_provider(start, login)


async def oauth_sign_in(client: httpx.AsyncClient, stack: Stack, provider: str, login: str) -> httpx.Response:
    callback = await reach_callback(client, stack, provider, login)
    landed: httpx.Response = await Browser(client, stack.callback_prefix(provider)).deliver(callback)
    return landed


async def me(client: httpx.AsyncClient, stack: Stack) -> httpx.Response:
    """An authenticated request through the gateway: the session cookie is all the browser sends."""
    return await client.get(f"{stack.gateway_url}/api/identity/v1/users/me")


async def password_sign_up(client: httpx.AsyncClient, stack: Stack, email: str) -> dict[str, Any]:
    response = await client.post(
        f"{stack.gateway_url}/api/identity/v1/signup",
        json={"email": email, "password": f"correct horse {uuid.uuid4().hex}"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def start_link(client: httpx.AsyncClient, stack: Stack, provider: str) -> httpx.Response:
    return await client.post(
        f"{stack.gateway_url}/api/identity/v1/linked-accounts/link-requests",
        json={"provider": provider, "return_to": "/settings/accounts"},
        headers=csrf_headers(client, stack.settings),
    )


async def linked_accounts(client: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    response = await client.get(f"{stack.gateway_url}/api/identity/v1/linked-accounts")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
