"""Managing ready objects: list by prefix with cursors, rename/move, folders, copy, delete."""

from __future__ import annotations

import aiohttp
from storage_support import Caller, EventLog, S3Env, sha256


async def test_list_by_prefix_pages_with_a_cursor(alice: Caller) -> None:
    for name in ("r/a.txt", "r/b.txt", "r/c.txt", "r/sub/d.txt", "other/e.txt"):
        await alice.upload(name, name.encode())
    first = (await alice.request("GET", "/objects?prefix=r/&limit=2")).json()
    assert [o["path"] for o in first["items"]] == ["r/a.txt", "r/b.txt"]
    second = (await alice.request("GET", f"/objects?prefix=r/&limit=2&cursor={first['next_cursor']}")).json()
    assert [o["path"] for o in second["items"]] == ["r/c.txt", "r/sub/d.txt"]
    assert second["next_cursor"] is None
    everything = (await alice.request("GET", "/objects")).json()
    assert len(everything["items"]) == 5


async def test_a_forged_cursor_is_a_400(alice: Caller) -> None:
    for cursor in ("bm9wZQ", "WyJyL2EudHh0IiwiMDE5MzAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAwIl0", "!!!"):
        response = await alice.request("GET", f"/objects?cursor={cursor}")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"


async def test_prefix_wildcards_are_literal(alice: Caller) -> None:
    await alice.upload("a_b/x.txt", b"1")
    await alice.upload("acb/y.txt", b"2")
    listed = (await alice.request("GET", "/objects?prefix=a_")).json()
    assert [o["path"] for o in listed["items"]] == ["a_b/x.txt"]
    assert (await alice.request("GET", "/objects?prefix=%25")).json()["items"] == []


async def test_rename_and_move(alice: Caller, events: EventLog) -> None:
    obj = await alice.upload("inbox/report.txt", b"report")
    await alice.upload("inbox/taken.txt", b"taken")
    moved = await alice.request("PATCH", f"/objects/{obj['id']}", json={"path": "archive/2026/report-final.txt"})
    assert moved.status_code == 200
    assert moved.json()["name"] == "report-final.txt"
    clash = await alice.request("PATCH", f"/objects/{obj['id']}", json={"path": "inbox/taken.txt"})
    assert clash.status_code == 409
    assert clash.json()["code"] == "path_taken"
    seen = await events.wait("portal.storage.object.moved.v1", alice.tenant)
    assert seen[0]["old_path"] == "inbox/report.txt"
    assert seen[0]["new_path"] == "archive/2026/report-final.txt"
    headers = [
        h for s, h, _ in events.seen if s == "portal.storage.object.moved.v1" and h.get("ce-tenant") == alice.tenant
    ]
    assert headers[0]["ce-actor"] == alice.identity.user_id


async def test_folder_move_and_recursive_delete(alice: Caller, s3: S3Env, events: EventLog) -> None:
    for name in ("proj/a.txt", "proj/deep/b.txt", "proj/deep/er/c.txt", "project-other.txt"):
        await alice.upload(name, name.encode())
    pending = await alice.start("proj/uploading.txt", b"not yet")
    moved = await alice.request("POST", "/folders/move", json={"path": "proj", "new_path": "old/proj"})
    assert moved.status_code == 200
    assert moved.json()["objects"] == 4
    paths = [o["path"] for o in (await alice.request("GET", "/objects")).json()["items"]]
    assert sorted(paths) == ["old/proj/a.txt", "old/proj/deep/b.txt", "old/proj/deep/er/c.txt", "project-other.txt"]
    into_itself = await alice.request("POST", "/folders/move", json={"path": "old", "new_path": "old/proj/x"})
    assert into_itself.status_code == 400

    deleted = await alice.request("DELETE", "/folders?path=old/proj")
    assert deleted.status_code == 200
    assert deleted.json()["objects"] == 4
    paths = [o["path"] for o in (await alice.request("GET", "/objects")).json()["items"]]
    assert paths == ["project-other.txt"]
    assert (await alice.request("GET", f"/uploads/{pending['id']}")).status_code == 404
    assert len(await s3.keys(f"objects/{alice.tenant}/")) == 1
    await events.wait("portal.storage.object.deleted.v1", alice.tenant, count=3)


async def test_copy_makes_an_independent_object(alice: Caller, http: aiohttp.ClientSession, events: EventLog) -> None:
    source = await alice.upload("orig.txt", b"original bytes")
    copied = await alice.request("POST", f"/objects/{source['id']}/copies", json={"path": "copy.txt"})
    assert copied.status_code == 201, copied.text
    copy = copied.json()
    assert copy["id"] != source["id"]
    assert copy["sha256"] == sha256(b"original bytes")
    assert copy["copied_from"] == source["id"]
    assert copy["status"] == "ready"
    assert (await alice.request("DELETE", f"/objects/{source['id']}")).status_code == 204
    link = (await alice.request("GET", f"/objects/{copy['id']}/download-url?disposition=inline")).json()
    async with http.get(link["url"]) as response:
        assert await response.read() == b"original bytes"
        assert response.headers["Content-Disposition"].startswith("inline;")
    created = await events.wait("portal.storage.object.created.v1", alice.tenant, count=2)
    assert any(e["copied_from"] == source["id"] for e in created)
    assert (await alice.request("POST", f"/objects/{copy['id']}/copies", json={"path": "copy.txt"})).status_code == 409


async def test_delete_removes_metadata_bytes_and_quota(alice: Caller, s3: S3Env, events: EventLog) -> None:
    obj = await alice.upload("bye.txt", b"x" * 1234)
    assert (await alice.request("GET", "/usage")).json()["used_bytes"] == 1234
    assert (await alice.request("DELETE", f"/objects/{obj['id']}")).status_code == 204
    assert (await alice.request("GET", f"/objects/{obj['id']}")).status_code == 404
    assert (await alice.request("DELETE", f"/objects/{obj['id']}")).status_code == 404
    assert await s3.keys(f"objects/{alice.tenant}/") == []
    assert (await alice.request("GET", "/usage")).json()["used_bytes"] == 0
    deleted = await events.wait("portal.storage.object.deleted.v1", alice.tenant)
    assert deleted[0]["object_id"] == obj["id"]
    assert deleted[0]["deleted_by"] == alice.identity.user_id


async def test_unicode_names_download_with_rfc6266_disposition(alice: Caller, http: aiohttp.ClientSession) -> None:
    obj = await alice.upload('straße/résumé "final".txt', b"cv")
    link = (await alice.request("GET", f"/objects/{obj['id']}/download-url")).json()
    async with http.get(link["url"]) as response:
        header = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt" in header
    assert 'filename="r_sum_ _final_.txt"' in header
