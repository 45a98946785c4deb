"""Denied requests (401/403) reported to the audit log as `portal.gateway.access.denied.v1` on JetStream.

The gateway has no database, so no outbox: a report goes into a bounded in-memory buffer that one
background task publishes (with `Nats-Msg-Id` = event id, so a retried publish is stored once). While
NATS is away the task retries; when the buffer is full the newest report is dropped and counted
(`gateway.access_reports.dropped`). `report()` never awaits: the request path pays one append.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from portal_contracts import spec_of
from portal_contracts.gateway import AccessDenied
from portal_core.assertion import Identity
from portal_core.ids import new_id
from portal_core.logging import get_logger
from portal_core.telemetry import meter
from portal_events.envelope import EventOrigin, build_headers
from portal_events.topology import ensure_service_stream

from gateway.headers import ClientAddressResolver

_SPEC = spec_of(AccessDenied)
DENIED = frozenset({401, 403})
_MAX_PATH = 1024
_MAX_USER_AGENT = 512
_encoder = msgspec.json.Encoder()
_log = get_logger("gateway.access_reports")
_meter = meter("portal.gateway")
_published = _meter.create_counter("gateway.access_reports.published", description="Denied-access reports sent")
_dropped = _meter.create_counter(
    "gateway.access_reports.dropped", description="Denied-access reports dropped because the buffer was full"
)


@dataclass(frozen=True, slots=True)
class _Report:
    headers: dict[str, str]
    body: bytes


class AccessReporter:
    """Buffers denied-access events and publishes them in the background; off when no NATS URL is set."""

    def __init__(self, nats_url: str | None, *, capacity: int = 10_000, publish_timeout: float = 2.0) -> None:
        self._url = nats_url
        self._buffer: deque[_Report] = deque()
        self._capacity = capacity
        self._timeout = publish_timeout
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while the buffer is empty, so stop() can wait for the flush
        self._idle.set()
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._addresses = ClientAddressResolver([])
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self._url is not None

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def start(self, addresses: ClientAddressResolver) -> None:
        """Connect (retrying in the background if NATS is down) and start publishing."""
        self._addresses = addresses
        if self._url is not None:
            self._task = asyncio.create_task(self._run(), name="gateway-access-reports")

    async def stop(self, flush_within: float = 2.0) -> None:
        """Give the buffer `flush_within` seconds to drain, then stop and close the connection."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=flush_within)
        self._stopping = True
        self._wake.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    def report(self, scope: dict[str, Any], status: int, code: str, identity: Identity | None = None) -> None:
        """Queue a report of a 401 or 403 answer (other statuses are ignored); never blocks, never raises.

        `identity` is the caller the gateway resolved, when it got that far: it puts the report in the
        caller's tenant, where that tenant's admins see it.
        """
        if self._url is None or status not in DENIED or self._stopping:
            return
        try:
            if len(self._buffer) >= self._capacity:
                _dropped.add(1)
                return
            self._buffer.append(self._build(scope, status, code, identity))
            self._idle.clear()
            self._wake.set()
        except Exception:  # a report must never turn a 401 into a 500
            _log.exception("could not build an access report")

    def _build(self, scope: dict[str, Any], status: int, code: str, identity: Identity | None) -> _Report:
        event_id = new_id()
        now = datetime.now(UTC)
        path: str = scope.get("path", "")[:_MAX_PATH]
        service = path.split("/")[2] if path.startswith("/api/") and path.count("/") >= 2 else None
        data = AccessDenied(
            method=str(scope.get("method", "GET")),
            path=path,
            status=status,
            code=code,
            service=service or None,
            occurred_at=now,
        )
        user_agent = next((v for k, v in scope.get("headers", []) if k == b"user-agent"), None)
        request_id = scope.get("state", {}).get("request_id")
        origin = EventOrigin(
            actor_id=identity.user_id if identity else None,
            outcome="failure",
            client_ip=self._addresses.resolve(scope).client_ip,
            # NATS headers are line based: a CR/LF would corrupt the header block.
            user_agent=" ".join(user_agent.decode("latin-1").split())[:_MAX_USER_AGENT] if user_agent else None,
            request_id=str(request_id) if request_id else None,
        )
        # Injects the gateway's request span: the audit record carries its trace id.
        tenant_id = identity.tenant_id if identity else None
        headers = build_headers(_SPEC, event_id, time=now, entity_id=path, tenant_id=tenant_id, origin=origin)
        return _Report(headers, _encoder.encode(data))

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                js = await self._jetstream()
                while self._buffer:
                    report = self._buffer[0]  # leave it queued until JetStream has stored it
                    await js.publish(_SPEC.subject, report.body, headers=report.headers, timeout=self._timeout)
                    self._buffer.popleft()
                    _published.add(1)
                failures = 0
                self._wake.clear()
                if not self._buffer:
                    self._idle.set()
                    await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS away: keep the buffer, try again after a pause
                failures += 1
                _log.warning("access reports not published", error=repr(exc), pending=len(self._buffer))
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))

    async def _jetstream(self) -> JetStreamContext:
        if self._nc is None:
            assert self._url is not None
            self._nc = await nats.connect(
                self._url,
                name="gateway",
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
            )
            await ensure_service_stream(self._nc.jetstream(), "gateway")
        return self._nc.jetstream()
