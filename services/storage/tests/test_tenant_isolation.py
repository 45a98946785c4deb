"""Tenant B reaches none of tenant A's objects, by any route or by editing what S3 is sent."""

from __future__ import annotations

from typing import Any

import aiohttp
from portal_core.assertion import Identity
from storage_support import Caller, S3Env, post_form, sha256


async def _bob_tries_everything(bob: Caller, obj_id: str, path: str) -> list[tuple[str, Any]]:
    answers = [
        ("read", await bob.request("GET", f"/objects/{obj_id}")),
        ("download", await bob.request("GET", f"/objects/{obj_id}/download-url")),
        ("rename", await bob.request("PATCH", f"/objects/{obj_id}", json={"path": "stolen.txt"})),
        ("copy", await bob.request("POST", f"/objects/{obj_id}/copies", json={"path": "stolen.txt"})),
        ("delete", await bob.request("DELETE", f"/objects/{obj_id}")),
        ("upload status", await bob.request("GET", f"/uploads/{obj_id}")),
        ("complete", await bob.request("POST", f"/uploads/{obj_id}/complete")),
        ("part urls", await bob.request("POST", f"/uploads/{obj_id}/part-urls", json={"part_numbers": [1]})),
        ("parts", await bob.request("GET", f"/uploads/{obj_id}/parts")),
        ("abort", await bob.request("DELETE", f"/uploads/{obj_id}")),
    ]
    return [(name, r) for name, r in answers if r.status_code != 404]


async def test_tenant_b_cannot_read_list_overwrite_or_delete_tenant_a(
    alice: Caller, bob: Caller, http: aiohttp.ClientSession, s3: S3Env
) -> None:
    secret = b"tenant A's secret"
    obj = await alice.upload("shared/name.txt", secret)
    pending = await alice.start("shared/pending.txt", b"in flight")

    for target in (obj["id"], pending["id"]):
        leaks = await _bob_tries_everything(bob, target, "shared/name.txt")
        assert leaks == [], [(n, r.status_code, r.text) for n, r in leaks]

    # Listing and folder routes only ever see the caller's own tenant.
    assert (await bob.request("GET", "/objects?prefix=shared/")).json()["items"] == []
    assert (await bob.request("DELETE", "/folders?path=shared")).json()["objects"] == 0
    assert (await bob.request("POST", "/folders/move", json={"path": "shared", "new_path": "x"})).json()["objects"] == 0

    # Bob's own upload at the same path is his own object, elsewhere in S3.
    mine = await bob.upload("shared/name.txt", b"bob's bytes")
    assert mine["id"] != obj["id"]

    # Editing the POST form to aim at Alice's key is refused by S3 itself (the policy pins the key).
    attack = await bob.start("attack.txt", b"overwrite!")
    alice_key = f"objects/{alice.tenant}/{obj['id']}"
    status, _ = await post_form(http, attack["post"], b"overwrite!", key=alice_key)
    assert status == 403
    # Path tricks in the display path never reach a key: keys come from ids.
    for trick in ("../" + alice.tenant + "/" + obj["id"], "%2E%2E%2F" + alice.tenant, "..\u2215x"):
        response = await bob.request(
            "POST", "/uploads", json={"path": trick, "size": 1, "content_type": "text/plain", "sha256": "0" * 64}
        )
        if response.status_code == 201:
            assert response.json()["post"]["fields"]["key"].startswith(f"objects/{bob.tenant}/")
        else:
            assert response.status_code == 400

    # Alice's object is untouched, with her bytes.
    still = await alice.request("GET", f"/objects/{obj['id']}")
    assert still.status_code == 200
    assert still.json()["path"] == "shared/name.txt"
    link = (await alice.request("GET", f"/objects/{obj['id']}/download-url")).json()
    async with http.get(link["url"]) as response:
        assert await response.read() == secret
    assert f"objects/{alice.tenant}/{obj['id']}" in await s3.keys(f"objects/{alice.tenant}/")
    assert sha256(secret) == still.json()["sha256"]


async def test_assertion_for_another_service_or_without_tenant_is_refused(alice: Caller) -> None:
    other_service = alice.signer.mint(alice.identity, "identity")
    response = await alice.client.get("/api/storage/v1/objects", headers={"x-portal-identity": other_service})
    assert response.status_code == 401
    anonymous = alice.signer.mint(Identity(), "storage")
    response = await alice.client.get("/api/storage/v1/objects", headers={"x-portal-identity": anonymous})
    assert response.status_code == 401
