"""Sessions: list, revoke, the revocation bound through the gateway's cache, password change."""

from __future__ import annotations

import time

from identity_support import PASSWORD, Stack, log_in, sign_up

REVOCATION_BOUND_SECONDS = 5.0


def test_a_user_lists_and_revokes_their_sessions(stack: Stack) -> None:
    account = sign_up(stack)
    laptop, login = log_in(stack, account.email)
    laptop_session = login.json()["session"]["session_id"]
    listed = account.client.get("/api/identity/v1/sessions")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {s["id"] for s in items} == {account.session_id, laptop_session}
    assert [s["current"] for s in items if s["id"] == account.session_id] == [True]
    assert "token" not in str(items).lower().replace("csrf", "")
    page = account.client.get("/api/identity/v1/sessions", params={"limit": 1})
    assert len(page.json()["items"]) == 1
    assert page.json()["next_cursor"]
    rest = account.client.get("/api/identity/v1/sessions", params={"limit": 1, "cursor": page.json()["next_cursor"]})
    assert len(rest.json()["items"]) == 1
    assert rest.json()["items"][0]["id"] != page.json()["items"][0]["id"]
    forged = account.client.get("/api/identity/v1/sessions", params={"cursor": "not-a-cursor"})
    assert forged.status_code == 400
    current = account.client.get("/api/identity/v1/sessions/current")
    assert current.json()["id"] == account.session_id
    # Another user's session id is a 404, not theirs to revoke.
    other = sign_up(stack)
    refused = account.client.delete(f"/api/identity/v1/sessions/{other.session_id}", headers=account.unsafe_headers())
    assert refused.status_code == 404
    assert other.client.get("/api/identity/v1/users/me").status_code == 200
    revoked = account.client.delete(f"/api/identity/v1/sessions/{laptop_session}", headers=account.unsafe_headers())
    assert revoked.status_code == 204
    event = stack.tap.wait_for("portal.identity.session.revoked.v1", session_id=laptop_session)
    assert event["data"]["reason"] == "revoked"
    laptop.close()


def test_a_revoked_session_stops_working_through_the_gateway_within_the_bound(stack: Stack) -> None:
    account = sign_up(stack)
    phone, _ = log_in(stack, account.email)
    assert phone.get("/api/identity/v1/users/me").status_code == 200  # the gateway has cached this session now
    phone_session = phone.get("/api/identity/v1/sessions/current").json()["id"]
    revoked_at = time.monotonic()
    response = account.client.delete(f"/api/identity/v1/sessions/{phone_session}", headers=account.unsafe_headers())
    assert response.status_code == 204
    status, elapsed = 200, 0.0
    while elapsed < REVOCATION_BOUND_SECONDS + 2:
        # Not an identity route: the request is refused at the gateway, without reaching any service.
        status = phone.get("/api/identity/v1/users/me").status_code
        elapsed = time.monotonic() - revoked_at
        if status == 401:
            break
        time.sleep(0.05)
    assert status == 401
    assert elapsed <= REVOCATION_BOUND_SECONDS
    assert elapsed <= stack.gateway_settings.session_cache_seconds + 1.0
    print(f"revoked session refused after {elapsed:.2f}s (cache {stack.gateway_settings.session_cache_seconds}s)")


def test_password_change_revokes_the_other_sessions(stack: Stack) -> None:
    account = sign_up(stack)
    other, _ = log_in(stack, account.email)
    assert other.get("/api/identity/v1/users/me").status_code == 200
    wrong = account.client.post(
        "/api/identity/v1/users/me/password",
        json={"current_password": "not the password at all", "new_password": "another long passphrase"},
        headers=account.unsafe_headers(),
    )
    assert wrong.status_code == 401
    new_password = "a brand new passphrase 77"
    changed = account.client.post(
        "/api/identity/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=account.unsafe_headers(),
    )
    assert changed.status_code == 204, changed.text
    assert account.client.get("/api/identity/v1/users/me").status_code == 200  # the session that changed it stays
    sessions = account.client.get("/api/identity/v1/sessions").json()["items"]
    assert [s["id"] for s in sessions] == [account.session_id]
    deadline = time.monotonic() + REVOCATION_BOUND_SECONDS
    while other.get("/api/identity/v1/users/me").status_code != 401:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert log_in(stack, account.email)[1].status_code == 401
    assert log_in(stack, account.email, new_password)[1].status_code == 200


def test_concurrent_requests_share_one_lookup_and_hits_never_call_identity(stack: Stack) -> None:
    import concurrent.futures

    from identity_support import TELEMETRY

    def lookups() -> int:
        return sum(
            1
            for span in TELEMETRY.spans.get_finished_spans()
            if (span.attributes or {}).get("http.route") == "/internal/identity/v1/sessions/resolve"
        )

    account = sign_up(stack)
    _, login = log_in(stack, account.email, token_delivery="bearer")
    headers = {"authorization": f"Bearer {login.json()['session']['token']}"}
    before = lookups()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(lambda _: stack.client().get("/api/identity/v1/sessions", headers=headers).status_code, range(32))
        )
    assert statuses == [200] * 32
    # 32 requests, one session: one lookup (two if the cache entry expired mid-burst on a slow machine).
    assert 1 <= lookups() - before <= 2
