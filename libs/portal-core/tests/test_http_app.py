import json
from collections.abc import Callable

import msgspec
import pytest
from litestar import post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from portal_core.assertion import ANONYMOUS, AssertionSigner, AssertionVerifier, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK, DEV_ASSERTION_PUBLIC_JWKS
from portal_core.errors import Conflict, dependency_outage
from portal_core.http import CallerIdentity, add_readiness_check, create_app, require_user
from redis.exceptions import ConnectionError as RedisConnectionError

SIGNER = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK)


class NoteCreate(msgspec.Struct):
    title: str
    size: int


@post("/api/demo/v1/notes", sync_to_thread=False)
def create_note(data: JSONBody[NoteCreate], identity: CallerIdentity) -> dict[str, object]:
    user = require_user(identity)
    if data.title == "taken":
        raise Conflict("A note with this title exists")
    if data.title == "database-away":
        raise ConnectionRefusedError(111, "Connection refused")
    if data.title == "bug":
        raise ValueError("a bug, not an outage")
    return {"title": data.title, "tenant": user.tenant_id}


def _app(healthy: bool = True):  # type: ignore[no-untyped-def]
    app = create_app(
        service="demo", route_handlers=[create_note], verifier=AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "demo")
    )

    async def check() -> None:
        if not healthy:
            raise ConnectionError("db down")

    add_readiness_check(app, "database", check)
    return app


def _as(identity: Identity, audience: str = "demo") -> dict[str, str]:
    return {"x-portal-identity": SIGNER.mint(identity, audience)}


USER = Identity(tenant_id="t1", user_id="u1")


async def test_health_and_readiness() -> None:
    async with AsyncTestClient(_app()) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok"}
    async with AsyncTestClient(_app(healthy=False)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("failed")


async def test_handler_runs_for_a_signed_in_caller() -> None:
    async with AsyncTestClient(_app()) as client:
        response = await client.post("/api/demo/v1/notes", json={"title": "a", "size": 1}, headers=_as(USER))
        assert response.status_code == 201
        assert response.json() == {"title": "a", "tenant": "t1"}
        assert response.headers["x-request-id"]


def _problem(response) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = json.loads(response.content)
    assert body["status"] == response.status_code
    assert body["request_id"] == response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


# Headers are made when the test runs: an assertion minted at collection has expired by then in a long session.
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (lambda: {}, "missing_assertion"),
        (lambda: {"x-portal-identity": "not-a-jwt"}, "invalid_assertion"),
        (lambda: {"x-portal-user": "u1", "x-tenant-id": "t1"}, "missing_assertion"),
        (lambda: _as(USER, audience="storage"), "invalid_assertion"),
        (lambda: _as(ANONYMOUS), "unauthenticated"),
    ],
)
async def test_callers_without_a_valid_assertion_get_401(headers: Callable[[], dict[str, str]], code: str) -> None:
    async with AsyncTestClient(_app()) as client:
        response = await client.post("/api/demo/v1/notes", json={"title": "a", "size": 1}, headers=headers())
        assert response.status_code == 401
        assert _problem(response)["code"] == code


async def test_bad_input_gets_problem_json_not_500() -> None:
    async with AsyncTestClient(_app()) as client:
        malformed = await client.post(
            "/api/demo/v1/notes", content=b'{"title": ', headers={**_as(USER), "content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert _problem(malformed)["code"] == "malformed_body"

        wrong_type = await client.post("/api/demo/v1/notes", json={"title": "a", "size": "big"}, headers=_as(USER))
        assert wrong_type.status_code == 400
        body = _problem(wrong_type)
        assert body["errors"], body

        unknown = await client.get("/api/demo/v1/nothing-here")
        assert unknown.status_code == 404
        assert _problem(unknown)["code"] == "not_found"

        wrong_method = await client.delete("/api/demo/v1/notes", headers=_as(USER))
        assert wrong_method.status_code == 405
        assert _problem(wrong_method)["code"] == "method_not_allowed"

        conflict = await client.post("/api/demo/v1/notes", json={"title": "taken", "size": 1}, headers=_as(USER))
        assert conflict.status_code == 409
        assert _problem(conflict)["detail"] == "A note with this title exists"


async def test_a_dependency_outage_is_503_with_retry_after_and_a_bug_is_500() -> None:
    async with AsyncTestClient(_app()) as client:
        away = await client.post("/api/demo/v1/notes", json={"title": "database-away", "size": 1}, headers=_as(USER))
        assert away.status_code == 503
        assert away.headers["retry-after"] == "1"
        assert (_problem(away)["code"], _problem(away)["retry_after"]) == ("dependency_unavailable", 1)
        bug = await client.post("/api/demo/v1/notes", json={"title": "bug", "size": 1}, headers=_as(USER))
        assert bug.status_code == 500
        assert _problem(bug)["code"] == "internal_error"


class _DatabaseError(Exception):
    """Shaped as asyncpg's errors are: a `sqlstate` attribute."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _raised_from(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException:
            raise RuntimeError("the transaction could not end: the connection is closed")  # noqa: B904 (implicit)
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (ConnectionResetError(104, "reset"), True),
        (RedisConnectionError("redis away"), True),
        (_DatabaseError("08006"), True),  # connection failure
        (_DatabaseError("57P01"), True),  # admin shutdown
        (_DatabaseError("57P03"), True),  # cannot connect now: starting up
        (_DatabaseError("53300"), True),  # too many connections
        (_raised_from(_DatabaseError("08003")), True),  # what the dead connection's error was raised during
        (_DatabaseError("23505"), False),  # a unique violation is the request's or the code's
        (ValueError("bug"), False),
        (FileNotFoundError(2, "no such file"), False),
    ],
)
def test_dependency_outage_tells_an_absent_dependency_from_a_fault(error: BaseException, outage: bool) -> None:
    assert dependency_outage(error) is outage


async def test_request_id_is_kept_when_safe_and_replaced_when_not() -> None:
    async with AsyncTestClient(_app()) as client:
        kept = await client.get("/healthz", headers={"x-request-id": "abc-123"})
        assert kept.headers["x-request-id"] == "abc-123"
        replaced = await client.get("/healthz", headers={"x-request-id": "bad id;"})
        assert replaced.headers["x-request-id"] != "bad id;"


async def test_server_span_continues_the_callers_trace(spans: InMemorySpanExporter) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with AsyncTestClient(_app()) as client:
        await client.post(
            "/api/demo/v1/notes",
            json={"title": "a", "size": 1},
            headers={**_as(USER), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
    server = [s for s in spans.get_finished_spans() if s.name == "POST /api/demo/v1/notes"]
    assert len(server) == 1
    assert format(server[0].context.trace_id, "032x") == trace_id
    assert server[0].attributes["http.response.status_code"] == 201


async def test_metrics_endpoint_exposes_http_counters() -> None:
    async with AsyncTestClient(_app()) as client:
        await client.get("/api/demo/v1/nothing-here")
        text = (await client.get("/metrics")).text
        assert "http_server_duration_seconds_count{" in text
        assert 'route="unmatched"' in text


async def test_openapi_is_served_under_the_service_prefix() -> None:
    async with AsyncTestClient(_app()) as client:
        spec = (await client.get("/api/demo/openapi.json")).json()
        assert "/api/demo/v1/notes" in spec["paths"]
        assert "/healthz" not in spec["paths"]


@post("/api/demo/v1/whoami", sync_to_thread=False)
def whoami(identity: CallerIdentity) -> dict[str, object]:
    from portal_core.request_context import current_request

    context = current_request()
    assert context is not None
    return {
        "actor": context.actor_id,
        "tenant": context.tenant_id,
        "ip": context.client_ip,
        "agent": context.user_agent,
        "request_id": context.request_id,
    }


async def test_request_context_carries_the_verified_caller_and_request() -> None:
    app = create_app(
        service="demo", route_handlers=[whoami], verifier=AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "demo")
    )
    caller = Identity(tenant_id="t9", user_id="u9", client_ip="203.0.113.7")
    headers = {**_as(caller), "user-agent": "probe/1.0", "x-request-id": "req-42"}
    async with AsyncTestClient(app) as client:
        response = await client.post("/api/demo/v1/whoami", headers=headers)
    assert response.status_code == 201
    assert response.json() == {
        "actor": "u9",
        "tenant": "t9",
        "ip": "203.0.113.7",
        "agent": "probe/1.0",
        "request_id": "req-42",
    }
