"""CSRF: cookie-authenticated unsafe requests need X-CSRF-Token; bearer requests do not."""

from __future__ import annotations

from identity_support import Stack, sign_up


def test_a_cookie_authenticated_unsafe_request_without_the_token_is_refused(stack: Stack) -> None:
    account = sign_up(stack)
    body = {"email": "x@example.com", "role": "member"}
    missing = account.client.post("/api/identity/v1/invitations", json=body)
    assert missing.status_code == 403
    assert missing.json()["code"] == "csrf_failed"
    wrong = account.client.post("/api/identity/v1/invitations", json=body, headers={"x-csrf-token": "guess"})
    assert wrong.status_code == 403
    foreign = account.client.post(
        "/api/identity/v1/invitations",
        json=body,
        headers={**account.unsafe_headers(), "origin": "https://evil.example"},
    )
    assert foreign.status_code == 403  # the right token from a foreign origin is still refused
    ok = account.client.post(
        "/api/identity/v1/invitations", json=body, headers={**account.unsafe_headers(), "origin": "https://app.example"}
    )
    assert ok.status_code == 201
    # The CSRF cookie the page reads is the token to echo.
    assert account.client.cookies.get(stack.settings.csrf_cookie_name) == account.csrf
    # Safe methods need no token.
    assert account.client.get("/api/identity/v1/members").status_code == 200


def test_a_cross_site_post_on_a_public_route_runs_anonymous(stack: Stack) -> None:
    account = sign_up(stack)
    # A forged logout-style POST to a public route with the victim's cookie: the session is not used.
    response = account.client.post("/api/identity/v1/invitations/accept", json={"token": "whatever"})
    assert response.status_code == 404
    assert account.client.get("/api/identity/v1/users/me").status_code == 200


def test_websocket_style_origin_rules_do_not_block_same_site_reads(stack: Stack) -> None:
    account = sign_up(stack)
    response = account.client.get("/api/identity/v1/users/me", headers={"origin": "https://evil.example"})
    assert response.status_code == 200  # reads are protected by CORS, not by CSRF tokens
    assert "access-control-allow-origin" not in response.headers
