"""The foundation end to end: gateway -> service (row + event in one transaction) -> NATS -> consumer."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from support.otlp_receiver import ReceivedLog, ReceivedSpan
from support.platform import GATEWAY_MAX_BODY, Platform
from support.processes import running

SERVER, CONSUMER = 2, 5  # OTLP SpanKind values


async def _received(database_url: str, note_ids: list[str], timeout: float = 20) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await conn.fetch(
                "SELECT note_id::text, trace_id FROM notes.received_events WHERE note_id = ANY($1::uuid[])", note_ids
            )
            if len({r["note_id"] for r in rows}) == len(note_ids) or time.monotonic() > deadline:
                return list(rows)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def _wait_for_spans(platform: Platform, trace_id: str, services: set[str], timeout: float = 15) -> list[ReceivedSpan]:
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in platform.receiver.snapshot() if s.trace_id == trace_id]
        if services <= {s.service for s in spans} or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


async def test_a_request_becomes_one_event_in_another_process_in_the_same_trace(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway) as client:
        response = await client.post("/api/notes/v1/notes", json={"title": "hello", "body": "world"})
    assert response.status_code == 201, response.text
    note_id = response.json()["id"]

    rows = await _received(platform.database_url, [note_id])
    assert len(rows) == 1, "the consumer applies the event exactly once"

    spans = _wait_for_spans(platform, rows[0]["trace_id"], {"gateway", "notes", "notes-consumer"})
    by_service = {s.service: s for s in spans if s.kind in (SERVER, CONSUMER)}
    assert {"gateway", "notes", "notes-consumer"} <= by_service.keys(), spans
    gateway_span = by_service["gateway"]
    assert gateway_span.parent_span_id == "", "the gateway starts the trace for a caller that sent none"
    assert by_service["notes"].trace_id == gateway_span.trace_id == by_service["notes-consumer"].trace_id

    logs = _wait_for_log(platform, gateway_span.trace_id, "note created")
    assert [(record.service, record.span_id) for record in logs] == [("notes", by_service["notes"].span_id)]
    assert logs[0].attributes["note_id"] == note_id
    assert logs[0].attributes["request_id"] == response.headers["x-request-id"]
    assert not [r for r in platform.receiver.log_snapshot() if "Invalid type" in r.body]


def _wait_for_log(platform: Platform, trace_id: str, text: str, timeout: float = 15) -> list[ReceivedLog]:
    """Log records exported over OTLP that carry `trace_id` and mention `text` (the batch exporter flushes ~1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in platform.receiver.log_snapshot() if r.trace_id == trace_id and text in r.body]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


async def test_a_callers_trace_is_continued(platform: Platform) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    async with httpx.AsyncClient(base_url=platform.gateway) as client:
        response = await client.post(
            "/api/notes/v1/notes",
            json={"title": "traced"},
            headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
        )
    assert response.status_code == 201
    rows = await _received(platform.database_url, [response.json()["id"]])
    assert [r["trace_id"] for r in rows] == [trace_id]


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"]
    assert body["title"]
    return body


async def test_bad_input_through_the_gateway_gets_4xx_problem_json(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway) as client:
        malformed = await client.post(
            "/api/notes/v1/notes", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert _problem(malformed, 400)["code"] == "malformed_body"

        wrong_type = await client.post("/api/notes/v1/notes", json={"title": 42})
        assert _problem(wrong_type, 400)["code"] == "validation_failed"
        unknown_field = await client.post("/api/notes/v1/notes", json={"title": "a", "owner": "mallory"})
        assert _problem(unknown_field, 400)["code"] == "validation_failed"
        empty_title = await client.post("/api/notes/v1/notes", json={"title": ""})
        assert _problem(empty_title, 400)["code"] == "validation_failed"

        oversize = await client.post("/api/notes/v1/notes", content=b"x" * (GATEWAY_MAX_BODY + 1))
        assert _problem(oversize, 413)["code"] == "payload_too_large"

        assert _problem(await client.get("/api/nothing/v1/x"), 404)["code"] == "not_found"
        assert _problem(await client.get("/api/notes/v1/unknown"), 404)["code"] == "not_found"
        assert _problem(await client.get("/api/notes/v1/notes/not-a-uuid"), 404)["code"] == "not_found"
        missing = await client.get("/api/notes/v1/notes/0190a000-0000-7000-8000-000000000000")
        assert _problem(missing, 404)["detail"] == "No such note"

        # A client cannot pass its own identity: the gateway replaces it with its own assertion.
        forged = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(Identity(tenant_id="t", user_id="u"), "notes")
        spoofed = await client.post("/api/notes/v1/notes", json={"title": "x"}, headers={"x-portal-identity": forged})
        assert spoofed.status_code == 201


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "missing_assertion"),
        ("garbage", "invalid_assertion"),
        (
            AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(Identity(), "notes", now=time.time() - 3600),
            "expired_assertion",
        ),
        (AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(Identity(), "storage"), "invalid_assertion"),
    ],
)
async def test_a_service_refuses_calls_without_a_valid_gateway_assertion(
    platform: Platform, token: str | None, code: str
) -> None:
    headers = {"x-portal-identity": token} if token else {}
    async with httpx.AsyncClient(base_url=platform.notes) as client:
        response = await client.post("/api/notes/v1/notes", json={"title": "direct"}, headers=headers)
    assert _problem(response, 401)["code"] == code


async def test_a_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway) as client:
        first = [(await client.post("/api/notes/v1/notes", json={"title": f"n{i}"})).json()["id"] for i in range(150)]
        # A second consumer instance joins the same durable consumer, then dies hard mid-stream.
        with running(
            ["-m", "notes_fixture", "consume"], platform.consumer_env, platform.logs / "consumer2.log"
        ) as extra:
            second = [
                (await client.post("/api/notes/v1/notes", json={"title": f"m{i}"})).json()["id"] for i in range(150)
            ]
            extra.kill()
        third = [(await client.post("/api/notes/v1/notes", json={"title": f"k{i}"})).json()["id"] for i in range(50)]
    ids = first + second + third
    rows = await _received(platform.database_url, ids, timeout=60)
    assert sorted(r["note_id"] for r in rows) == sorted(ids)
