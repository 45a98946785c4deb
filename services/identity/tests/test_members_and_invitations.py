"""Invitations (single use, expiring, hashed), members and roles, and tenant isolation."""

from __future__ import annotations

import hashlib
import uuid

from identity_support import PASSWORD, Account, Stack, log_in, new_email, sign_up


def invite(admin: Account, email: str, role: str = "member", key: str | None = None) -> dict:
    headers = admin.unsafe_headers() | ({"idempotency-key": key} if key else {})
    response = admin.client.post("/api/identity/v1/invitations", json={"email": email, "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def accept(stack: Stack, token: str, password: str | None = PASSWORD) -> tuple[object, dict]:
    client = stack.client()
    body = {"token": token} | ({"password": password} if password else {})
    response = client.post("/api/identity/v1/invitations/accept", json=body)
    return client, {**response.json(), "http_status": response.status_code}


def test_an_invitation_is_single_use_and_stored_hashed(stack: Stack) -> None:
    owner = sign_up(stack)
    email = new_email()
    invitation = invite(owner, email, "admin")
    token = invitation["token"]
    stored = stack.fetch("SELECT token_hash FROM identity.invitations WHERE id = $1::uuid", invitation["id"])
    assert bytes(stored[0]["token_hash"]) == hashlib.sha256(token.encode()).digest()
    pending = owner.client.get("/api/identity/v1/invitations").json()["items"]
    assert [i["id"] for i in pending] == [invitation["id"]]
    assert pending[0]["token"] is None
    _, weak = accept(stack, token, "short")
    assert weak["http_status"] == 400
    client, accepted = accept(stack, token)
    assert accepted["http_status"] == 200, accepted
    assert accepted["session"]["tenant_id"] == owner.tenant_id
    me = client.get("/api/identity/v1/users/me").json()  # type: ignore[attr-defined]
    assert me["role"] == "admin"
    assert me["email"] == email
    _, again = accept(stack, token, "another passphrase 99")
    assert again["http_status"] == 404
    assert again["code"] == "invalid_invitation"
    stack.tap.wait_for("portal.identity.invitation.accepted.v1", invitation_id=invitation["id"])
    created = stack.tap.wait_for("portal.identity.user.created.v1", email=email)
    assert created["data"]["method"] == "invitation"


def test_expired_and_revoked_invitations_are_refused(stack: Stack) -> None:
    owner = sign_up(stack)
    expired = invite(owner, new_email())
    stack.fetch(
        "UPDATE identity.invitations SET expires_at = now() - interval '1 second' WHERE id = $1::uuid", expired["id"]
    )
    assert accept(stack, expired["token"])[1]["http_status"] == 404
    revoked = invite(owner, new_email())
    response = owner.client.delete(f"/api/identity/v1/invitations/{revoked['id']}", headers=owner.unsafe_headers())
    assert response.status_code == 204
    assert accept(stack, revoked["token"])[1]["http_status"] == 404
    assert accept(stack, "made-up-token")[1]["http_status"] == 404


def test_an_idempotent_retry_returns_the_same_invitation(stack: Stack) -> None:
    owner = sign_up(stack)
    email = new_email()
    key = str(uuid.uuid4())
    first = invite(owner, email, key=key)
    retry = invite(owner, email, key=key)
    assert retry["id"] == first["id"]
    assert accept(stack, first["token"])[1]["http_status"] == 404  # only the newest token works
    assert accept(stack, retry["token"])[1]["http_status"] == 200


def test_an_existing_account_accepts_while_signed_in_and_switches_tenant(stack: Stack) -> None:
    owner = sign_up(stack)
    guest = sign_up(stack)
    invitation = invite(owner, guest.email)
    anonymous = accept(stack, invitation["token"], None)[1]
    assert anonymous["http_status"] == 401
    response = guest.client.post(
        "/api/identity/v1/invitations/accept", json={"token": invitation["token"]}, headers=guest.unsafe_headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["session"]["tenant_id"] == owner.tenant_id
    _, into_new = log_in(stack, guest.email, tenant_id=owner.tenant_id)
    assert into_new.json()["session"]["tenant_id"] == owner.tenant_id


def test_roles_are_managed_by_admins_and_a_tenant_keeps_an_owner(stack: Stack) -> None:
    owner = sign_up(stack)
    member_client, _ = accept(stack, invite(owner, new_email(), "member")["token"])
    member_id = member_client.get("/api/identity/v1/users/me").json()["id"]  # type: ignore[attr-defined]
    members = owner.client.get("/api/identity/v1/members").json()["items"]
    assert {m["user_id"]: m["role"] for m in members} == {owner.user_id: "owner", member_id: "member"}
    csrf = {"x-csrf-token": member_client.cookies.get("portal_csrf")}  # type: ignore[attr-defined]
    refused = member_client.patch(f"/api/identity/v1/members/{owner.user_id}", json={"role": "member"}, headers=csrf)  # type: ignore[attr-defined]
    assert refused.status_code == 403
    promoted = owner.client.patch(
        f"/api/identity/v1/members/{member_id}", json={"role": "admin"}, headers=owner.unsafe_headers()
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    event = stack.tap.wait_for("portal.identity.membership.role_changed.v1", user_id=member_id)
    assert (event["data"]["old_role"], event["data"]["new_role"]) == ("member", "admin")
    # An admin cannot touch the owner; the owner cannot leave the tenant ownerless.
    admin_on_owner = member_client.patch(
        f"/api/identity/v1/members/{owner.user_id}", json={"role": "admin"}, headers=csrf
    )  # type: ignore[attr-defined]
    assert admin_on_owner.status_code == 403
    last_owner = owner.client.patch(
        f"/api/identity/v1/members/{owner.user_id}", json={"role": "admin"}, headers=owner.unsafe_headers()
    )
    assert last_owner.status_code == 409
    assert last_owner.json()["code"] == "last_owner"
    bad_role = owner.client.patch(
        f"/api/identity/v1/members/{member_id}", json={"role": "emperor"}, headers=owner.unsafe_headers()
    )
    assert bad_role.status_code == 400
    removed = owner.client.delete(f"/api/identity/v1/members/{member_id}", headers=owner.unsafe_headers())
    assert removed.status_code == 204
    assert owner.client.get(f"/api/identity/v1/members/{member_id}").status_code == 404


def test_tenant_a_admin_cannot_see_or_change_tenant_b_users(stack: Stack) -> None:
    admin_a = sign_up(stack)
    owner_b = sign_up(stack)
    victim_client, _ = accept(stack, invite(owner_b, new_email())["token"])
    victim_id = victim_client.get("/api/identity/v1/users/me").json()["id"]  # type: ignore[attr-defined]
    listed = admin_a.client.get("/api/identity/v1/members").json()["items"]
    assert {m["user_id"] for m in listed} == {admin_a.user_id}
    for method, body in [("GET", None), ("PATCH", {"role": "admin"}), ("DELETE", None)]:
        for target in (victim_id, owner_b.user_id):
            response = admin_a.client.request(
                method, f"/api/identity/v1/members/{target}", json=body, headers=admin_a.unsafe_headers()
            )
            assert response.status_code == 404, (method, response.text)
            assert response.json()["code"] == "member_not_found"
    foreign_invitation = invite(owner_b, new_email())
    revoke = admin_a.client.delete(
        f"/api/identity/v1/invitations/{foreign_invitation['id']}", headers=admin_a.unsafe_headers()
    )
    assert revoke.status_code == 404
    assert owner_b.client.get(f"/api/identity/v1/members/{victim_id}").json()["role"] == "member"
    # A sign-in into a tenant the user does not belong to is refused like a wrong password.
    _, login = log_in(stack, admin_a.email, tenant_id=owner_b.tenant_id)
    assert login.status_code == 401
    assert login.json()["code"] == "invalid_credentials"
