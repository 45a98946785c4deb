"""Uploads straight to S3: the POST policy and multipart flows, verified before an object is ready."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from storage_support import Caller, EventLog, S3Env, post_form, sha256

MIB = 1024 * 1024


async def test_post_upload_becomes_ready_and_downloads(
    alice: Caller, http: aiohttp.ClientSession, events: EventLog
) -> None:
    data = b"hello, storage\n" * 100
    upload = await alice.start("docs/hello.txt", data)
    assert upload["method"] == "post"
    assert upload["status"] == "pending"
    status, text = await post_form(http, upload["post"], data)
    assert status == 204, text
    done = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert done.status_code == 200, done.text
    ready = done.json()["object"]
    assert ready["status"] == "ready"
    assert ready["size"] == len(data)
    assert ready["sha256"] == sha256(data)
    assert ready["name"] == "hello.txt"
    assert ready["owner_id"] == alice.identity.user_id

    link = await alice.request("GET", f"/objects/{upload['id']}/download-url")
    async with http.get(link.json()["url"]) as response:
        assert response.status == 200
        assert await response.read() == data
        assert response.headers["Content-Disposition"].startswith('attachment; filename="hello.txt"')

    started = await events.wait("portal.storage.upload.started.v1", alice.tenant)
    created = await events.wait("portal.storage.object.created.v1", alice.tenant)
    assert started[0]["object_id"] == upload["id"]
    assert started[0]["method"] == "post"
    assert created[0]["sha256"] == sha256(data)
    assert created[0]["path"] == "docs/hello.txt"


async def test_s3_refuses_a_post_over_the_declared_size(alice: Caller, http: aiohttp.ClientSession) -> None:
    declared = b"a" * 1000
    upload = await alice.start("big.txt", declared)
    status, text = await post_form(http, upload["post"], declared + b"extra")
    assert status == 400
    assert "EntityTooLarge" in text
    done = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert done.status_code == 409
    assert done.json()["code"] == "upload_incomplete"


async def test_s3_refuses_another_content_type_or_key(alice: Caller, http: aiohttp.ClientSession) -> None:
    data = b"<html></html>"
    upload = await alice.start("page.txt", data)
    status, _ = await post_form(http, upload["post"], data, **{"Content-Type": "text/html"})
    assert status == 403
    status, _ = await post_form(http, upload["post"], data, key=upload["post"]["fields"]["key"] + "-elsewhere")
    assert status == 403


async def test_wrong_bytes_for_the_declared_sha256_never_become_ready(
    alice: Caller, http: aiohttp.ClientSession
) -> None:
    declared, sent = b"the real content", b"the fake content"
    upload = await alice.start("wrong.txt", declared)
    status, text = await post_form(http, upload["post"], sent)
    assert status == 400
    assert "BadDigest" in text
    done = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert done.status_code == 409
    state = await alice.request("GET", f"/uploads/{upload['id']}")
    assert state.json()["status"] == "pending"


async def test_multipart_with_a_wrong_sha256_is_marked_failed(
    alice: Caller, http: aiohttp.ClientSession, s3: S3Env
) -> None:
    data = os.urandom(6 * MIB)
    response = await alice.request(
        "POST",
        "/uploads",
        json={"path": "mp/wrong.bin", "size": len(data), "content_type": "application/octet-stream",
              "sha256": sha256(b"something else"), "method": "multipart", "part_size": 5 * MIB},
    )  # fmt: skip
    upload = response.json()
    await _put_parts(alice, http, upload, data, [1, 2])
    done = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert done.status_code == 422
    assert done.json()["code"] == "checksum_mismatch"
    state = (await alice.request("GET", f"/uploads/{upload['id']}")).json()
    assert state["status"] == "failed"
    assert "SHA-256" in state["failure"]
    assert (await alice.request("GET", f"/objects/{upload['id']}")).status_code == 404
    assert await s3.keys(f"objects/{alice.tenant}/") == []


async def _put_parts(
    alice: Caller, http: aiohttp.ClientSession, upload: dict[str, Any], data: bytes, numbers: list[int]
) -> None:
    urls = await alice.request("POST", f"/uploads/{upload['id']}/part-urls", json={"part_numbers": numbers})
    assert urls.status_code == 200, urls.text
    size = upload["part_size"]
    for item in urls.json()["items"]:
        n = item["part_number"]
        async with http.put(item["url"], data=data[(n - 1) * size : n * size]) as put:
            assert put.status == 200, await put.text()


async def _dropped_put(url: str, body: bytes, sent: int) -> None:
    """Send the head and only `sent` bytes of a PUT, then drop the connection (a client losing its link)."""
    parts = urlsplit(url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body[:sent])
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_two_part_upload_resumes_after_a_dropped_connection(
    alice: Caller, http: aiohttp.ClientSession, events: EventLog
) -> None:
    data = os.urandom(5 * MIB + 300 * 1024)
    response = await alice.request(
        "POST",
        "/uploads",
        json={"path": "video/clip.bin", "size": len(data), "content_type": "application/octet-stream",
              "sha256": sha256(data), "method": "multipart", "part_size": 5 * MIB},
    )  # fmt: skip
    upload = response.json()
    assert upload["method"] == "multipart"
    assert upload["part_count"] == 2
    await _put_parts(alice, http, upload, data, [1])
    urls = (await alice.request("POST", f"/uploads/{upload['id']}/part-urls", json={"part_numbers": [2]})).json()
    await _dropped_put(urls["items"][0]["url"], data[5 * MIB :], sent=100 * 1024)

    early = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert early.status_code == 409
    assert "2" in early.json()["detail"]
    parts = (await alice.request("GET", f"/uploads/{upload['id']}/parts")).json()
    assert [p["part_number"] for p in parts["items"]] == [1]  # the client resumes with part 2 only

    await _put_parts(alice, http, upload, data, [2])
    parts = (await alice.request("GET", f"/uploads/{upload['id']}/parts?limit=1")).json()
    assert [p["part_number"] for p in parts["items"]] == [1]
    assert parts["next_cursor"]
    rest = (await alice.request("GET", f"/uploads/{upload['id']}/parts?limit=1&cursor={parts['next_cursor']}")).json()
    assert [p["part_number"] for p in rest["items"]] == [2]

    done = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert done.status_code == 200, done.text
    assert done.json()["object"]["status"] == "ready"
    again = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert again.status_code == 200
    assert again.json()["status"] == "ready"
    link = (await alice.request("GET", f"/objects/{upload['id']}/download-url")).json()
    async with http.get(link["url"]) as got:
        assert sha256(await got.read()) == sha256(data)
    started = await events.wait("portal.storage.upload.started.v1", alice.tenant)
    assert started[0]["method"] == "multipart"


async def test_expired_urls_fail(alice: Caller, http: aiohttp.ClientSession) -> None:
    obj = await alice.upload("short.txt", b"short-lived")
    link = (await alice.request("GET", f"/objects/{obj['id']}/download-url?expires_in=1")).json()
    data = b"too late"
    upload = await alice.start("late.txt", data, expires_in=1)
    await asyncio.sleep(2.5)
    async with http.get(link["url"]) as response:
        assert response.status == 403
    status, text = await post_form(http, upload["post"], data)
    assert status == 403
    assert "expired" in text


async def test_limits_quota_and_content_types(alice: Caller, events: EventLog) -> None:
    def body(size: int, content_type: str = "text/plain", path: str = "limits/a.txt") -> dict[str, Any]:
        return {"path": path, "size": size, "content_type": content_type, "sha256": "0" * 64}

    too_big = await alice.request("POST", "/uploads", json=body(101 * MIB))
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "upload_too_large"
    refused_type = await alice.request("POST", "/uploads", json=body(10, "application/x-msdownload"))
    assert refused_type.status_code == 415
    assert refused_type.json()["code"] == "content_type_not_allowed"

    first = await alice.request("POST", "/uploads", json=body(100 * MIB, path="limits/one.bin"))
    second = await alice.request("POST", "/uploads", json=body(100 * MIB, path="limits/two.bin"))
    assert first.status_code == 201
    assert second.status_code == 201
    over = await alice.request("POST", "/uploads", json=body(1, path="limits/three.bin"))
    assert over.status_code == 403
    assert over.json()["code"] == "quota_exceeded"
    usage = (await alice.request("GET", "/usage")).json()
    assert usage["used_bytes"] == 200 * MIB
    assert usage["quota_bytes"] == 200 * MIB
    refused = await events.wait("portal.storage.quota.exceeded.v1", alice.tenant)
    assert refused[0]["requested_bytes"] == 1
    assert refused[0]["used_bytes"] == 200 * MIB

    assert (await alice.request("DELETE", f"/uploads/{first.json()['id']}")).status_code == 204
    assert (await alice.request("GET", "/usage")).json()["used_bytes"] == 100 * MIB


async def test_idempotency_key_returns_the_first_answer(alice: Caller) -> None:
    data = b"once"
    body = {"path": "idem.txt", "size": len(data), "content_type": "text/plain", "sha256": sha256(data)}
    key = {"Idempotency-Key": "create-idem-1"}
    first = await alice.request("POST", "/uploads", json=body, headers=key)
    retry = await alice.request("POST", "/uploads", json=body, headers=key)
    assert first.status_code == retry.status_code == 201
    assert first.json()["id"] == retry.json()["id"]
    other = await alice.request("POST", "/uploads", json={**body, "path": "other.txt"}, headers=key)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    without = await alice.request("POST", "/uploads", json=body)
    assert without.status_code == 409
    assert without.json()["code"] == "path_taken"


async def test_bad_input_is_a_problem_not_a_crash(alice: Caller) -> None:
    for path in ("../escape.txt", "/abs.txt", "a//b.txt", "a/./b.txt", "dir/", "a\\b.txt", "bad\u202e.txt", ""):
        response = await alice.request(
            "POST", "/uploads", json={"path": path, "size": 1, "content_type": "text/plain", "sha256": "0" * 64}
        )
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    missing = await alice.client.get("/api/storage/v1/objects")
    assert missing.status_code == 401


async def test_a_tenant_override_changes_its_quota_and_upload_limit(alice: Caller, database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO storage.tenant_quotas (tenant_id, quota_bytes, max_upload_bytes) VALUES ($1, 1000, 600)",
            alice.tenant,
        )
    finally:
        await conn.close()
    usage = (await alice.request("GET", "/usage")).json()
    assert (usage["quota_bytes"], usage["max_upload_bytes"]) == (1000, 600)
    body = {"path": "o.txt", "size": 601, "content_type": "text/plain", "sha256": "0" * 64}
    assert (await alice.request("POST", "/uploads", json=body)).json()["code"] == "upload_too_large"
    assert (await alice.request("POST", "/uploads", json={**body, "size": 600})).status_code == 201
    over = await alice.request("POST", "/uploads", json={**body, "path": "p.txt", "size": 500})
    assert over.json()["code"] == "quota_exceeded"


async def test_an_expired_post_form_can_be_renewed(alice: Caller, http: aiohttp.ClientSession) -> None:
    data = b"second try"
    upload = await alice.start("renewed.txt", data, expires_in=1)
    await asyncio.sleep(2.2)
    status, _ = await post_form(http, upload["post"], data)
    assert status == 403
    renewed = await alice.request("POST", f"/uploads/{upload['id']}/post-form")
    assert renewed.status_code == 200
    assert renewed.json()["post"]["fields"]["key"] == upload["post"]["fields"]["key"]
    status, text = await post_form(http, renewed.json()["post"], data)
    assert status == 204, text
    done = await alice.request("POST", f"/uploads/{upload['id']}/complete")
    assert done.json()["status"] == "ready"
    again = await alice.request("POST", f"/uploads/{upload['id']}/post-form")
    assert again.status_code == 409  # a ready object takes no more bytes
