"""The suite's main story end to end: a sign-up through the gateway is audited in the gateway's trace
(gateway -> identity -> NATS -> audit ingest), and the new owner reads it back through the gateway."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from portal_core.testing import free_port
from portal_events.testing import PrivateNatsServer
from support.otlp_receiver import OtlpReceiver
from support.processes import migrated_database, running
from test_audit import audit_record, spans_of_trace

pytestmark = pytest.mark.integration
PASSWORD = "a long enough passphrase"


@dataclass(frozen=True)
class Suite:
    gateway_url: str
    database_url: str
    receiver: OtlpReceiver


@pytest.fixture(scope="module")
async def suite_database() -> AsyncIterator[str]:
    async with migrated_database("portal_e2e_signup", ("identity", "audit")) as url:
        yield url


@pytest.fixture(scope="module")
def suite(
    suite_database: str, private_nats: PrivateNatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    logs = tmp_path_factory.mktemp("signup-e2e")
    identity_port, audit_port, gateway_port = free_port(), free_port(), free_port()
    redis_prefix = f"portal:e2e-signup:{gateway_port}:"
    with OtlpReceiver() as receiver:
        common = {
            "DATABASE_URL": suite_database,
            "NATS_URL": private_nats.url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "REDIS_KEY_PREFIX": redis_prefix,
        }
        upstreams = {"identity": f"http://127.0.0.1:{identity_port}", "audit": f"http://127.0.0.1:{audit_port}"}
        gateway_env = {**common, "PORT": str(gateway_port), "UPSTREAMS": json.dumps(upstreams)}
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        with (
            running(
                ["-m", "identity"],
                {**common, "PORT": str(identity_port)},
                logs / "identity.log",
                f"{upstreams['identity']}/readyz",
            ),
            running(
                ["-m", "audit"],
                {**common, "PORT": str(audit_port)},
                logs / "audit.log",
                f"{upstreams['audit']}/readyz",
            ),
            running(
                ["-m", "audit", "ingest"],
                {**common, "AUDIT_DISCOVERY_INTERVAL_SECONDS": "0.5"},
                logs / "ingest.log",
            ),
            running(["-m", "gateway"], gateway_env, logs / "gateway.log", f"{gateway_url}/readyz"),
        ):
            yield Suite(gateway_url, suite_database, receiver)


async def test_a_sign_up_is_audited_in_the_gateways_trace_and_its_owner_reads_it(suite: Suite) -> None:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=suite.gateway_url, headers={"user-agent": "e2e-signup/1"}) as client:
        signed_up = await client.post(
            "/api/identity/v1/signup",
            json={"email": email, "password": PASSWORD, "token_delivery": "bearer"},
        )
        assert signed_up.status_code == 201, signed_up.text
        session = signed_up.json().get("session") or signed_up.json()
        user_id, tenant_id = session["user_id"], session["tenant_id"]

        record = await audit_record(suite.database_url, user_id)
        assert (record["action"], record["outcome"]) == ("portal.identity.user.created.v1", "success")
        assert (str(record["tenant_id"]), record["user_agent"]) == (tenant_id, "e2e-signup/1")
        assert PASSWORD not in json.dumps(dict(record), default=str), "no secret reaches the audit log"
        spans = spans_of_trace(suite.receiver, record["trace_id"], {"gateway", "identity", "audit-ingest"})
        roots = [s for s in spans if s.service == "gateway" and s.parent_span_id == ""]
        assert len(roots) == 1, "the gateway's span starts the trace"
        assert roots[0].trace_id == record["trace_id"]

        owner = {"authorization": f"Bearer {session['token']}"}
        page = await client.get(
            "/api/audit/v1/records", params={"action": "portal.identity.user.created.v1"}, headers=owner
        )
        assert page.status_code == 200, page.text
        assert [item["target_id"] for item in page.json()["items"]] == [user_id]

        anonymous = await client.get("/api/audit/v1/records")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
