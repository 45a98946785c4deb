"""Sign-up, password login, sessions through the gateway, logout."""

from __future__ import annotations

import time

from identity_support import PASSWORD, Stack, log_in, new_email, sign_up


def test_sign_up_sets_a_secure_session_cookie_and_reaches_protected_routes(stack: Stack) -> None:
    client = stack.client()
    response = client.post("/api/identity/v1/signup", json={"email": new_email(), "password": PASSWORD})
    assert response.status_code == 201, response.text
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("portal_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie or "SameSite=Lax" in session_cookie
    assert "Path=/" in session_cookie
    body = response.json()
    assert body["status"] == "signed_in"
    assert body["session"]["token"] is None  # browsers never see the token
    me = client.get("/api/identity/v1/users/me")
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "owner"
    assert me.json()["tenant_id"] == body["session"]["tenant_id"]


def test_emails_are_normalised_and_unique(stack: Stack) -> None:
    local = new_email().partition("@")[0]
    first = sign_up(stack, f"{local}@example.com")
    again = stack.client().post(
        "/api/identity/v1/signup", json={"email": f"  {local.upper()}@EXAMPLE.com ", "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"
    _, login = log_in(stack, f"{local.upper()}@Example.Com")
    assert login.status_code == 200, login.text
    assert login.json()["session"]["user_id"] == first.user_id


def test_password_policy_is_enforced(stack: Stack) -> None:
    email = new_email()
    for password, fragment in [("short pass", "at least 12"), (email, "email"), (email.partition("@")[0] + "", "")]:
        response = stack.client().post("/api/identity/v1/signup", json={"email": email, "password": password})
        assert response.status_code == 400, (password, response.text)
        assert response.json()["code"] == "weak_password"
        assert fragment in response.json()["detail"]


def test_bearer_clients_get_the_token_in_the_body_and_no_cookie(stack: Stack) -> None:
    account = sign_up(stack)
    _, response = log_in(stack, account.email, token_delivery="bearer")
    assert response.status_code == 200
    assert not [c for c in response.headers.get_list("set-cookie") if c.startswith("portal_session=")]
    token = response.json()["session"]["token"]
    assert len(token) >= 43  # 256 bits, base64url
    fresh = stack.client()
    me = fresh.get("/api/identity/v1/users/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] == account.email
    # Unsafe bearer requests need no CSRF token: no cookie is involved.
    revoke = fresh.post("/api/identity/v1/logout", headers={"authorization": f"Bearer {token}"})
    assert revoke.status_code == 204


def test_protected_routes_need_a_session_and_answer_problem_json(stack: Stack) -> None:
    client = stack.client()
    for method, path in [
        ("GET", "/api/identity/v1/users/me"),
        ("GET", "/api/identity/v1/sessions"),
        ("DELETE", "/api/identity/v1/members/0193a5a0-0000-7000-8000-000000000001"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "unauthenticated"
    garbage = client.get("/api/identity/v1/users/me", headers={"authorization": "Bearer not-a-real-token"})
    assert garbage.status_code == 401
    # Public routes work without a session.
    assert client.get("/api/identity/openapi.json").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_logout_ends_the_session(stack: Stack) -> None:
    account = sign_up(stack)
    token = account.client.cookies.get(stack.settings.session_cookie_name)
    assert token
    response = account.client.post("/api/identity/v1/logout", headers=account.unsafe_headers())
    assert response.status_code == 204
    cleared = [c for c in response.headers.get_list("set-cookie") if c.startswith("portal_session=")]
    assert cleared
    assert "Max-Age=0" in cleared[0]
    event = stack.tap.wait_for("portal.identity.session.revoked.v1", session_id=account.session_id)
    assert event["data"]["reason"] == "logout"
    deadline = time.monotonic() + 5
    while (
        stack.client().get("/api/identity/v1/users/me", headers={"authorization": f"Bearer {token}"}).status_code != 401
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    _, again = log_in(stack, account.email)
    assert again.status_code == 200


def test_cookie_attributes_default_to_secure(stack: Stack) -> None:
    from identity.sessions.cookies import session_cookies
    from identity.sessions.store import IssuedSession, SessionRecord
    from identity.settings import IdentitySettings

    record = SessionRecord(
        id="s",
        user_id="u",
        tenant_id="t",
        mfa=False,
        method="password",
        created_at=0,
        last_seen_at=0,
        absolute_expires_at=1,
        csrf_hash="h",
    )
    session, csrf, _ = session_cookies(IssuedSession("tok", "csrf", record), IdentitySettings())
    assert (session.secure, session.httponly, session.samesite) == (True, True, "lax")
    assert (csrf.secure, csrf.httponly, csrf.samesite) == (True, False, "lax")
