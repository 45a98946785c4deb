"""Helpers for the audit tests: raw CloudEvents on NATS, admin assertions, the ingest process, polling."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from nats.js import JetStreamContext
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK

SIGNER = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK)
ROOT = Path(__file__).resolve().parents[3]


def assertion(tenant_id: str, *, roles: tuple[str, ...] = ("admin",), user_id: str = "u-admin") -> dict[str, str]:
    identity = Identity(tenant_id=tenant_id, user_id=user_id, roles=roles, client_ip="127.0.0.1")
    return {"x-portal-identity": SIGNER.mint(identity, "audit")}


def event_headers(
    event_type: str,
    *,
    event_id: uuid.UUID | None = None,
    tenant_id: str | None = None,
    entity_id: str | None = None,
    actor_id: str | None = None,
    outcome: str | None = None,
    trace_id: str | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
) -> dict[str, str]:
    """The headers a producer's relay sends (CloudEvents binary binding), built by hand like another language would."""
    event_id = event_id or uuid.uuid4()
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(event_id),
        "ce-type": event_type,
        "ce-source": "/portal/test",
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
        "Nats-Msg-Id": str(event_id),
    }
    optional = {
        "ce-tenant": tenant_id,
        "ce-subject": entity_id,
        "ce-actor": actor_id,
        "ce-outcome": outcome,
        "ce-clientip": client_ip,
        "ce-useragent": user_agent,
        "traceparent": f"00-{trace_id}-{'1' * 16}-01" if trace_id else None,
    }
    headers.update({k: v for k, v in optional.items() if v is not None})
    return headers


async def publish_events(
    js: JetStreamContext, subject: str, tenant_id: str, count: int, *, start: int = 0, tag: str = "e"
) -> list[uuid.UUID]:
    """Publish `count` events of `subject` for `tenant_id`, numbered from `start`; return their ids."""
    ids = []
    for n in range(start, start + count):
        event_id = uuid.uuid4()
        headers = event_headers(subject, event_id=event_id, tenant_id=tenant_id, entity_id=f"{tag}-{n}")
        await js.publish(subject, f'{{"n": {n}}}'.encode(), headers=headers)
        ids.append(event_id)
    return ids


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m audit <command>` with `env` on top of ours, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "audit", command], env={**os.environ, **env}, stdout=out, stderr=out
        )


def run_audit(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", *command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
