"""The query API as a tenant admin sees it: filters, newest-first pages, one record, exports, isolation."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from audit.chain import service as chain
from audit.chain.hashing import RecordContent
from audit.chain.signing import HeadSigner
from audit.settings import DEV_CHECKPOINT_SIGNING_KEY
from audit_support import assertion
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.integration
SIGNER = HeadSigner(DEV_CHECKPOINT_SIGNING_KEY)
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def record(tenant: str, n: int, **overrides: Any) -> RecordContent:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "action": "portal.storage.object.created.v1" if n % 2 else "portal.identity.user.signed_in.v1",
        "actor_id": f"user-{n % 3}",
        "target_type": "storage.object",
        "target_id": f"obj-{n}",
        "outcome": "failure" if n % 5 == 0 else "success",
        "client_ip": "198.51.100.7",
        "user_agent": "=cmd|' /C calc'!A0",
        "trace_id": f"{n:032x}",
        "request_id": None,
        "source": "/portal/storage",
        "occurred_at": BASE + timedelta(minutes=n),
        "received_at": BASE + timedelta(minutes=n, seconds=1),
        "body": f'{{"n":{n}}}',
    }
    fields.update(overrides)
    return RecordContent(**fields)


@pytest.fixture
async def seeded(pool: asyncpg.Pool, tenant: str) -> tuple[str, str]:
    """30 records of `tenant` and 5 of another tenant; returns (tenant, other tenant)."""
    other = f"{tenant}-neighbour"
    async with pool.acquire() as conn, conn.transaction():
        await chain.append(conn, [record(tenant, n) for n in range(1, 31)], SIGNER)
        await chain.append(conn, [record(other, n, actor_id="user-1") for n in range(1, 6)], SIGNER)
    return tenant, other


async def test_pages_run_newest_first_and_cover_everything_once(
    client: AsyncTestClient[Any], seeded: tuple[str, str]
) -> None:
    tenant, _ = seeded
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/audit/v1/records", params=params, headers=assertion(tenant))
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["seq"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(30, 0, -1))


async def test_filters_combine(client: AsyncTestClient[Any], seeded: tuple[str, str]) -> None:
    tenant, _ = seeded
    params = {
        "actor_id": "user-1",
        "action": "portal.storage.object.created.v1",
        "outcome": "success",
        "since": (BASE + timedelta(minutes=5)).isoformat(),
        "until": (BASE + timedelta(minutes=25)).isoformat(),
    }
    response = await client.get("/api/audit/v1/records", params=params, headers=assertion(tenant))
    assert response.status_code == 200, response.text
    got = [item["target_id"] for item in response.json()["items"]]
    expected = [f"obj-{n}" for n in range(24, 4, -1) if n % 3 == 1 and n % 2 == 1 and n % 5 != 0]
    assert got == expected
    assert got
    by_trace = await client.get("/api/audit/v1/records", params={"trace_id": f"{7:032x}"}, headers=assertion(tenant))
    assert [item["target_id"] for item in by_trace.json()["items"]] == ["obj-7"]
    by_target = await client.get(
        "/api/audit/v1/records",
        params={"target_type": "storage.object", "target_id": "obj-12"},
        headers=assertion(tenant),
    )
    item = by_target.json()["items"][0]
    assert (item["seq"], item["body"], item["client_ip"]) == (12, {"n": 12}, "198.51.100.7")


async def test_one_record_by_id_and_another_tenants_is_not_found(
    client: AsyncTestClient[Any], seeded: tuple[str, str]
) -> None:
    tenant, other = seeded
    mine = (await client.get("/api/audit/v1/records", params={"limit": 1}, headers=assertion(tenant))).json()
    theirs = (await client.get("/api/audit/v1/records", params={"limit": 1}, headers=assertion(other))).json()
    record_id = mine["items"][0]["id"]
    one = await client.get(f"/api/audit/v1/records/{record_id}", headers=assertion(tenant))
    assert one.status_code == 200
    assert one.json()["id"] == record_id
    foreign = await client.get(f"/api/audit/v1/records/{theirs['items'][0]['id']}", headers=assertion(tenant))
    assert foreign.status_code == 404
    assert foreign.headers["content-type"].startswith("application/problem+json")
    all_mine = await client.get("/api/audit/v1/records", params={"limit": 200}, headers=assertion(tenant))
    assert {i["target_id"] for i in all_mine.json()["items"]} == {f"obj-{n}" for n in range(1, 31)}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "YTEuLTE"}, "invalid_cursor"),  # "a1.-1": well-formed base64, forged content
        ({"limit": "0"}, "validation_failed"),
        ({"limit": "abc"}, "validation_failed"),
        ({"outcome": "maybe"}, "validation_failed"),
        ({"since": "yesterday"}, "validation_failed"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "invalid_filter"),
        ({"since": "2026-03-02T00:00:00"}, "invalid_filter"),
    ],
)
async def test_malformed_filters_and_cursors_are_problem_400s(
    client: AsyncTestClient[Any], tenant: str, params: dict[str, str], code: str
) -> None:
    response = await client.get("/api/audit/v1/records", params=params, headers=assertion(tenant))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_only_signed_in_tenant_admins_read(client: AsyncTestClient[Any], seeded: tuple[str, str]) -> None:
    tenant, _ = seeded
    assert (await client.get("/api/audit/v1/records")).status_code == 401
    member = await client.get("/api/audit/v1/records", headers=assertion(tenant, roles=("member",)))
    assert member.status_code == 403
    assert member.json()["code"] == "not_tenant_admin"
    owner = await client.get("/api/audit/v1/records", headers=assertion(tenant, roles=("owner",)))
    assert owner.status_code == 200


async def test_exports_stream_the_filtered_range_as_ndjson_and_csv(
    client: AsyncTestClient[Any], seeded: tuple[str, str]
) -> None:
    tenant, _ = seeded
    params = {"format": "ndjson", "outcome": "failure"}
    ndjson = await client.get("/api/audit/v1/exports/records", params=params, headers=assertion(tenant))
    assert ndjson.status_code == 200
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [line["target_id"] for line in lines] == ["obj-30", "obj-25", "obj-20", "obj-15", "obj-10", "obj-5"]

    as_csv = await client.get("/api/audit/v1/exports/records", params={"format": "csv"}, headers=assertion(tenant))
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 30
    assert rows[0]["seq"] == "30"
    assert rows[0]["user_agent"].startswith("'=")  # a formula would run in a spreadsheet: neutralised


async def test_verification_and_retention_settings_through_the_api(
    client: AsyncTestClient[Any], seeded: tuple[str, str]
) -> None:
    tenant, _ = seeded
    report = await client.get("/api/audit/v1/chain/verification", headers=assertion(tenant))
    assert report.status_code == 200
    assert report.json()["ok"] is True
    assert report.json()["records_checked"] == 30
    default = await client.get("/api/audit/v1/retention", headers=assertion(tenant))
    assert default.json() == {"retention_days": 365, "is_default": True}
    updated = await client.put("/api/audit/v1/retention", json={"retention_days": 30}, headers=assertion(tenant))
    assert updated.status_code == 200
    assert updated.json() == {"retention_days": 30, "is_default": False}
    bad = await client.put("/api/audit/v1/retention", json={"retention_days": 0}, headers=assertion(tenant))
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
