"""The audit log end to end: gateway -> notes (outbox) -> NATS -> `python -m audit ingest`, one trace.

Uses the test-only notes service until identity's sign-up lands; a private nats-server keeps the
streams of this run apart from everyone else's.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from portal_core.testing import free_port
from portal_events.testing import PrivateNatsServer
from support.otlp_receiver import OtlpReceiver, ReceivedSpan
from support.processes import migrated_database, running

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class AuditPlatform:
    gateway_url: str
    database_url: str
    receiver: OtlpReceiver


@pytest.fixture(scope="module")
async def audit_database() -> AsyncIterator[str]:
    async with migrated_database("portal_e2e_audit", ("notes_fixture", "audit")) as url:
        yield url


@pytest.fixture(scope="module")
def audit_platform(
    audit_database: str, private_nats: PrivateNatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuditPlatform]:
    logs = tmp_path_factory.mktemp("audit-e2e")
    notes_port, gateway_port = free_port(), free_port()
    with OtlpReceiver() as receiver:
        common = {
            "DATABASE_URL": audit_database,
            "NATS_URL": private_nats.url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        }
        gateway_env = {
            "PORT": str(gateway_port),
            "UPSTREAMS": json.dumps({"notes": f"http://127.0.0.1:{notes_port}"}),
            "NATS_URL": private_nats.url,
            "CORS_ORIGINS": "https://app.example",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "REDIS_KEY_PREFIX": f"portal:e2e-audit:{gateway_port}:",
        }
        ingest_env = {**common, "AUDIT_DISCOVERY_INTERVAL_SECONDS": "0.5"}
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        with (
            running(
                ["-m", "notes_fixture", "serve"],
                {**common, "PORT": str(notes_port)},
                logs / "notes.log",
                f"http://127.0.0.1:{notes_port}/readyz",
            ),
            running(["-m", "gateway"], gateway_env, logs / "gateway.log", f"{gateway_url}/readyz"),
            running(["-m", "audit", "ingest"], ingest_env, logs / "audit-ingest.log"),
        ):
            yield AuditPlatform(gateway_url, audit_database, receiver)


async def audit_record(database_url: str, target_id: str, timeout: float = 20.0) -> asyncpg.Record:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = await conn.fetchrow("SELECT * FROM audit.records WHERE target_id = $1", target_id)
            if row is not None:
                return row
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"no audit record for {target_id} within {timeout}s")


def spans_of_trace(
    receiver: OtlpReceiver, trace_id: str, services: set[str], timeout: float = 15
) -> list[ReceivedSpan]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = [s for s in receiver.snapshot() if s.trace_id == trace_id]
        if services <= {s.service for s in spans}:
            return spans
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} never reached {services}")


async def test_a_request_through_the_gateway_is_audited_in_the_gateways_trace(audit_platform: AuditPlatform) -> None:
    async with httpx.AsyncClient(base_url=audit_platform.gateway_url) as client:
        created = await client.post("/api/notes/v1/notes", json={"title": "audited"}, headers={"user-agent": "e2e/1"})
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]

    record = await audit_record(audit_platform.database_url, note_id)
    assert record["action"] == "portal.notes.note.created.v1"  # not registered in portal_contracts: audited anyway
    assert (record["target_type"], record["outcome"], record["user_agent"]) == ("notes.note", "success", "e2e/1")
    spans = spans_of_trace(audit_platform.receiver, record["trace_id"], {"gateway", "notes", "audit-ingest"})
    gateway_roots = [s for s in spans if s.service == "gateway" and s.parent_span_id == ""]
    assert len(gateway_roots) == 1, "the gateway's server span starts the trace"
    assert record["trace_id"] == gateway_roots[0].trace_id
    assert any(s.service == "audit-ingest" and s.kind == 5 for s in spans)  # 5: CONSUMER, in the same trace


async def test_a_request_the_gateway_refuses_is_audited_as_a_failure(audit_platform: AuditPlatform) -> None:
    async with httpx.AsyncClient(base_url=audit_platform.gateway_url) as client:
        refused = await client.options(
            "/api/notes/v1/notes/refused-probe",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
        )
    assert refused.status_code == 403
    record = await audit_record(audit_platform.database_url, "/api/notes/v1/notes/refused-probe")
    assert (record["action"], record["outcome"]) == ("portal.gateway.access.denied.v1", "failure")
    assert json.loads(record["body"])["code"] == "cors_origin_not_allowed"
    spans_of_trace(audit_platform.receiver, record["trace_id"], {"gateway"})

    verify = subprocess.run(
        [sys.executable, "-m", "audit", "verify"],
        env={"DATABASE_URL": audit_platform.database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
