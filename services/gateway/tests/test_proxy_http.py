"""Plain HTTP through the gateway: what reaches the service, what comes back, and each failure's answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind
from portal_core.assertion import AssertionVerifier
from portal_core.dev_keys import DEV_ASSERTION_PUBLIC_JWKS
from portal_core.errors import Unauthorized


async def call(gateway: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        return await client.request(method, path, **kwargs)


def seen_header(seen: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in seen["headers"] if k == name]


async def test_get_keeps_path_and_query_exactly(gateway: str) -> None:
    r = await call(gateway, "GET", "/api/echo/v1/things/a%2Fb?limit=5&cursor=x%20y&tag=1&tag=2")
    assert r.status_code == 200
    seen = r.json()
    assert seen["method"] == "GET"
    assert seen["raw_path"] == "/api/echo/v1/things/a%2Fb"
    assert seen["query"] == "limit=5&cursor=x%20y&tag=1&tag=2"
    assert r.headers["x-upstream"] == "yes"


async def test_post_forwards_body_and_status(gateway: str) -> None:
    r = await call(gateway, "POST", "/api/echo/v1/things?dry_run=true", json={"name": "widget"})
    assert r.status_code == 201
    seen = r.json()
    assert seen["method"] == "POST"
    assert seen["body"] == '{"name":"widget"}'
    assert seen["query"] == "dry_run=true"
    assert seen_header(seen, "content-type") == ["application/json"]


async def test_oauth_routes_go_to_identity(gateway: str) -> None:
    r = await call(gateway, "GET", "/api/oauth/github/callback?code=abc&state=s")
    assert r.status_code == 200
    seen = r.json()
    assert seen["path"] == "/api/oauth/github/callback"
    assert seen["query"] == "code=abc&state=s"
    verifier = AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, audience="identity")
    verifier.verify(seen_header(seen, "x-portal-identity")[0])


async def test_request_id_forwarded_and_answered_once(gateway: str) -> None:
    r = await call(gateway, "GET", "/api/echo/v1/things", headers={"X-Request-Id": "client-req-42"})
    assert seen_header(r.json(), "x-request-id") == ["client-req-42"]
    assert r.headers.get_list("x-request-id") == ["client-req-42"]  # not the upstream's own id too


async def test_forwarded_headers_set_and_hop_by_hop_dropped(gateway: str) -> None:
    r = await call(
        gateway,
        "GET",
        "/api/echo/v1/things",
        headers={
            "Connection": "keep-alive, x-hop-secret",
            "X-Hop-Secret": "1",
            "TE": "trailers",
            "X-Forwarded-For": "6.6.6.6",  # a client cannot choose its address: 127.0.0.1 is no trusted proxy
            "Cookie": "session=abc",
        },
    )
    seen = r.json()
    names = {k for k, _ in seen["headers"]}
    assert "x-hop-secret" not in names
    assert "te" not in names
    assert seen_header(seen, "x-forwarded-for") == ["127.0.0.1"]
    assert seen_header(seen, "x-forwarded-proto") == ["http"]
    assert seen_header(seen, "x-forwarded-host") == [gateway.removeprefix("http://")]
    assert seen_header(seen, "cookie") == ["session=abc"]
    assert "accept-encoding" not in names or seen_header(seen, "accept-encoding") == ["gzip, deflate"]


async def test_client_identity_headers_replaced_by_a_valid_assertion(gateway: str) -> None:
    r = await call(
        gateway,
        "GET",
        "/api/echo/v1/me",
        headers={"X-Portal-Identity": "forged.jwt.token", "X-Portal-Tenant": "someone-else"},
    )
    seen = r.json()
    assert seen_header(seen, "x-portal-tenant") == []
    tokens = seen_header(seen, "x-portal-identity")
    assert len(tokens) == 1
    assert tokens[0] != "forged.jwt.token"
    identity = AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, audience="echo").verify(tokens[0])
    assert identity.is_anonymous
    assert identity.client_ip == "127.0.0.1"
    with pytest.raises(Unauthorized):  # minted for this service only
        AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, audience="storage").verify(tokens[0])


async def test_trace_continues_through_the_gateway(gateway: str, spans: Any) -> None:
    trace_id, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = await call(gateway, "GET", "/api/echo/v1/traced", headers={"traceparent": f"00-{trace_id}-{client_span}-01"})
    (traceparent,) = seen_header(r.json(), "traceparent")
    _version, seen_trace, parent_span, _flags = traceparent.split("-")
    assert seen_trace == trace_id
    assert parent_span != client_span  # the gateway's own span is the parent, not the caller's
    by_id = {format(s.context.span_id, "016x"): s for s in spans.get_finished_spans()}
    gateway_server = by_id[parent_span]  # one span per hop: the gateway's server span
    assert gateway_server.kind == SpanKind.SERVER
    assert gateway_server.attributes["http.response.status_code"] == 200
    assert format(gateway_server.parent.span_id, "016x") == client_span


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/dead/v1/things", 502, "upstream_unavailable"),
        ("/api/echo/v1/slow", 504, "upstream_timeout"),
        ("/api/audit/v1/events", 503, "service_not_deployed"),
        ("/api/nosuch/v1/things", 404, "not_found"),
        ("/nothing-here", 404, "not_found"),
        ("/", 404, "not_found"),
    ],
)
async def test_failures_are_problem_json(gateway: str, path: str, status: int, code: str) -> None:
    r = await call(gateway, "GET", path, headers={"X-Request-Id": "failing-1"})
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["request_id"] == "failing-1"
    assert r.headers.get_list("x-request-id") == ["failing-1"]


async def test_docs_lists_each_service_openapi(gateway: str) -> None:
    r = await call(gateway, "GET", "/api/docs")
    assert r.status_code == 200
    services = {s["name"]: s["openapi_url"] for s in r.json()["services"]}
    assert services == {
        "dead": "/api/dead/openapi.json",
        "echo": "/api/echo/openapi.json",
        "identity": "/api/identity/openapi.json",
    }


async def test_health_readiness_and_metrics(gateway: str) -> None:
    assert (await call(gateway, "GET", "/healthz")).json() == {"status": "ok"}
    ready = await call(gateway, "GET", "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok"}
    await call(gateway, "GET", "/api/echo/v1/counted")
    metrics = await call(gateway, "GET", "/metrics")
    assert metrics.status_code == 200
    assert 'route="/api/echo/*"' in metrics.text
    assert (await call(gateway, "POST", "/healthz")).status_code == 405
