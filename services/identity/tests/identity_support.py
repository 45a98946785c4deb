"""Helpers of the identity tests: servers in threads, the stack, accounts, captured logs.

Every test client gets a client IP of its own (the gateway trusts X-Forwarded-For from 127.0.0.1), so
per-IP limits of one test never meet another's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from gateway.settings import GatewaySettings
from identity.settings import IdentitySettings
from portal_core.test_infra import nats_url, redis_env
from portal_core.testing import install_test_telemetry

TELEMETRY = install_test_telemetry()
RUN = uuid.uuid4().hex[:10]
IDENTITY_PREFIX = f"test:identity:{RUN}:"
GATEWAY_PREFIX = f"test:identity-gw:{RUN}:"
PASSWORD = "a long enough passphrase 42"


class LogCapture(logging.Handler):
    """Every log line the processes in this test session write, rendered as they would be on stdout."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        root = logging.getLogger()
        if root.handlers and root.handlers[0].formatter is not None:
            self.setFormatter(root.handlers[0].formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.lines.append(record.getMessage())


LOGS = LogCapture()
logging.getLogger().addHandler(LOGS)


class EventTap:
    """Every portal.identity.* message NATS delivers while the tests run (a core subscription in a thread).

    The stream is shared by name with other runs on this NATS, so tests filter by the ids they created.
    """

    def __init__(self, nats_url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._nats_url = nats_url
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        import nats

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        nc = await nats.connect(self._nats_url)

        async def on_message(msg: Any) -> None:
            headers = dict(msg.headers or {})
            self.events.append(
                {"subject": msg.subject, "headers": headers, "raw": msg.data, "data": json.loads(msg.data)}
            )

        await nc.subscribe("portal.identity.>", cb=on_message)
        await nc.flush()
        self._ready.set()
        await self._stop.wait()
        await nc.close()

    def __enter__(self) -> EventTap:
        self._thread.start()
        assert self._ready.wait(10), "NATS subscription did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def wait_for(self, subject: str, timeout: float = 10.0, **match: str) -> dict[str, Any]:
        """The first event on `subject` whose data has every `match` field; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event["subject"] == subject and all(event["data"].get(k) == v for k, v in match.items()):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {subject} with {match}")

    def about(self, *ids: str) -> list[dict[str, Any]]:
        """Events whose data mentions any of `ids`."""
        return [e for e in list(self.events) if any(i in e["raw"].decode() for i in ids)]


@dataclass
class Stack:
    gateway: str
    identity: str
    database_url: str
    settings: IdentitySettings
    gateway_settings: GatewaySettings
    tap: EventTap

    def client(self, ip: str | None = None) -> httpx.Client:
        """A browser-like client with its own client IP and cookie jar."""
        return httpx.Client(
            base_url=self.gateway, headers={"x-forwarded-for": ip or random_ip()}, timeout=30, follow_redirects=False
        )

    def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            import asyncpg

            conn = await asyncpg.connect(self.database_url)
            try:
                return [dict(r) for r in await conn.fetch(query, *args)]
            finally:
                await conn.close()

        return asyncio.run(run())


def random_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def identity_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url(),
        **redis_env(),
        "REDIS_KEY_PREFIX": IDENTITY_PREFIX,
        "COOKIE_SECURE": "false",  # the test client speaks plain http to 127.0.0.1
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": "5",
        "LOGIN_MAX_FAILURES_PER_IP": "12",
        "LOGIN_LOCKOUT_SECONDS": "60",
        "SIGNUP_MAX_PER_IP": "50",
    }
    env.update(overrides)
    return env


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Account:
    client: httpx.Client
    email: str
    password: str
    user_id: str
    tenant_id: str
    session_id: str
    csrf: str

    def unsafe_headers(self) -> dict[str, str]:
        return {"x-csrf-token": self.csrf}


def sign_up(stack: Stack, email: str | None = None, password: str = PASSWORD) -> Account:
    client = stack.client()
    email = email or new_email()
    response = client.post("/api/identity/v1/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    session = response.json()["session"]
    return Account(
        client, email, password, session["user_id"], session["tenant_id"], session["session_id"], session["csrf_token"]
    )


def log_in(stack: Stack, email: str, password: str = PASSWORD, **extra: Any) -> tuple[httpx.Client, httpx.Response]:
    client = stack.client()
    return client, client.post("/api/identity/v1/login", json={"email": email, "password": password, **extra})


def fresh_totp(secret: str, used: set[int]) -> str:
    """A valid code for a time step this test has not used yet (the server accepts each step once)."""
    import pyotp

    totp = pyotp.TOTP(secret)
    while True:
        step = int(time.time() // 30)
        for candidate in (step, step + 1):
            if candidate not in used:
                used.add(candidate)
                return totp.generate_otp(candidate)
        time.sleep(30 - time.time() % 30 + 0.05)


def enrol_mfa(account: Account, used: set[int]) -> tuple[str, list[str]]:
    """Turn TOTP on for `account`: (secret, recovery codes)."""
    enrol = account.client.post("/api/identity/v1/mfa/totp/enrol", headers=account.unsafe_headers())
    assert enrol.status_code == 201, enrol.text
    secret = enrol.json()["secret"]
    confirm = account.client.post(
        "/api/identity/v1/mfa/totp/confirm", json={"code": fresh_totp(secret, used)}, headers=account.unsafe_headers()
    )
    assert confirm.status_code == 200, confirm.text
    return secret, confirm.json()["recovery_codes"]
