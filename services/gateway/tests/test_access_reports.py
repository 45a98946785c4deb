"""Denied requests reach JetStream as `portal.gateway.access.denied.v1`, also after NATS was away."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError
from portal_core.assertion import Identity
from portal_core.testing import ThreadServer, install_test_telemetry
from portal_events.testing import PrivateNatsServer

SUBJECT = "portal.gateway.access.denied.v1"
TELEMETRY = install_test_telemetry()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNatsServer]:
    server = PrivateNatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


async def stored_reports(url: str, expected: int, timeout: float = 15.0) -> list[tuple[dict[str, str], dict]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                count = (await js.stream_info("PORTAL_GATEWAY")).state.messages
            except NotFoundError:
                count = 0
            if count >= expected:
                break
            await asyncio.sleep(0.1)
        reports = []
        for seq in range(1, count + 1):
            msg = await js.get_msg("PORTAL_GATEWAY", seq)
            reports.append((dict(msg.headers or {}), json.loads(msg.data or b"{}")))
        return reports
    finally:
        await nc.close()


def deny_requests(server: ThreadServer, count: int) -> list[float]:
    """`count` requests without a session on a protected route; returns how long each took."""
    took = []
    with httpx.Client(base_url=server.url) as client:
        for n in range(count):
            started = time.perf_counter()
            response = client.get(f"/api/echo/v1/things/{n}?token=secret", headers={"user-agent": "probe/1"})
            took.append(time.perf_counter() - started)
            assert response.status_code == 401
    return took


async def test_denied_requests_are_published_with_origin_and_trace(
    make_gateway: Callable[..., ThreadServer], private_nats: PrivateNatsServer
) -> None:
    with make_gateway(NATS_URL=private_nats.url, SESSION_AUTH="required") as server:
        deny_requests(server, 2)
        with httpx.Client(base_url=server.url) as client:
            refused = client.options(
                "/api/echo/v1/things",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
            )
        assert refused.status_code == 403
        reports = await stored_reports(private_nats.url, 3)
    assert [(body["status"], body["code"]) for _, body in reports] == [
        (401, "unauthenticated"),
        (401, "unauthenticated"),
        (403, "cors_origin_not_allowed"),
    ]
    headers, body = reports[0]
    assert (body["method"], body["path"], body["service"]) == ("GET", "/api/echo/v1/things/0", "echo")
    assert headers["ce-type"] == SUBJECT
    assert headers["ce-outcome"] == "failure"
    assert headers["ce-useragent"] == "probe/1"
    assert headers["ce-clientip"] == "127.0.0.1"
    assert headers["Nats-Msg-Id"] == headers["ce-id"]
    trace_id = headers["traceparent"].split("-")[1]
    gateway_spans = [s for s in TELEMETRY.spans.get_finished_spans() if s.attributes.get("http.route") is not None]
    assert trace_id in {format(s.context.trace_id, "032x") for s in gateway_spans}


async def test_reports_wait_out_a_nats_outage_without_slowing_requests(
    make_gateway: Callable[..., ThreadServer], private_nats: PrivateNatsServer
) -> None:
    with make_gateway(NATS_URL=private_nats.url, SESSION_AUTH="required") as server:
        deny_requests(server, 1)
        assert len(await stored_reports(private_nats.url, 1)) == 1
        private_nats.stop()
        took = deny_requests(server, 20)
        assert max(took) < 0.5, "a denied request waited for NATS"
        private_nats.start()
        reports = await stored_reports(private_nats.url, 21, timeout=30)
    assert len(reports) == 21
    assert len({headers["ce-id"] for headers, _ in reports}) == 21


async def test_a_full_buffer_drops_and_counts(
    make_gateway: Callable[..., ThreadServer], private_nats: PrivateNatsServer
) -> None:
    private_nats.stop()
    before = TELEMETRY.metric_total("gateway.access_reports.dropped")
    with make_gateway(NATS_URL=private_nats.url, SESSION_AUTH="required", ACCESS_REPORT_BUFFER="3") as server:
        deny_requests(server, 8)
        assert TELEMETRY.metric_total("gateway.access_reports.dropped") - before == 5


class SignedInResolver:
    """Every caller is user u-1 of tenant t-1 (the session lookup itself is tested in services/identity)."""

    async def resolve(self, scope: dict[str, Any], client_ip: str) -> Identity:
        return Identity(tenant_id="t-1", user_id="u-1", client_ip=client_ip)


async def test_a_service_refusing_a_signed_in_caller_is_reported_in_their_tenant(
    make_gateway: Callable[..., ThreadServer], private_nats: PrivateNatsServer
) -> None:
    with make_gateway(resolver=SignedInResolver(), NATS_URL=private_nats.url) as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/api/echo/v1/admin/forbidden").status_code == 403
            assert client.get("/api/echo/v1/things/1").status_code == 200  # allowed: not reported
        reports = await stored_reports(private_nats.url, 1)
    assert len(reports) == 1
    headers, body = reports[0]
    assert (body["status"], body["code"], body["path"]) == (403, "denied_by_service", "/api/echo/v1/admin/forbidden")
    assert (headers["ce-tenant"], headers["ce-actor"], headers["ce-outcome"]) == ("t-1", "u-1", "failure")
