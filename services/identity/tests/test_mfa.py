"""TOTP MFA: enrol, confirm, login with the second factor, recovery codes, replay, disable."""

from __future__ import annotations

import time

import pyotp
from identity_support import Stack, enrol_mfa, fresh_totp, log_in, sign_up


def test_enrolment_gives_an_otpauth_uri_and_mfa_changes_revoke_other_sessions(stack: Stack) -> None:
    account = sign_up(stack)
    other, _ = log_in(stack, account.email)
    enrol = account.client.post("/api/identity/v1/mfa/totp/enrol", headers=account.unsafe_headers())
    assert enrol.status_code == 201
    body = enrol.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == body["secret"]
    stored = stack.fetch(
        "SELECT secret_ciphertext FROM identity.totp_factors WHERE user_id = $1::uuid", account.user_id
    )
    assert body["secret"] not in stored[0]["secret_ciphertext"]  # encrypted at rest
    wrong = account.client.post(
        "/api/identity/v1/mfa/totp/confirm", json={"code": "000000"}, headers=account.unsafe_headers()
    )
    assert wrong.status_code == 401
    used: set[int] = set()
    confirm = account.client.post(
        "/api/identity/v1/mfa/totp/confirm",
        json={"code": fresh_totp(body["secret"], used)},
        headers=account.unsafe_headers(),
    )
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert account.client.get("/api/identity/v1/mfa").json() == {"enabled": True, "recovery_codes_left": 10}
    assert account.client.get("/api/identity/v1/sessions/current").json()["mfa"] is True
    deadline = time.monotonic() + 5
    while other.get("/api/identity/v1/users/me").status_code != 401:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stored_codes = stack.fetch(
        "SELECT code_hash FROM identity.recovery_codes WHERE user_id = $1::uuid", account.user_id
    )
    assert all(codes[0].encode() not in bytes(r["code_hash"]) for r in stored_codes)


def test_login_asks_for_the_second_factor_and_refuses_a_replayed_code(stack: Stack) -> None:
    account = sign_up(stack)
    used: set[int] = set()
    secret, _ = enrol_mfa(account, used)
    browser, first = log_in(stack, account.email)
    assert first.status_code == 200
    assert first.json()["status"] == "mfa_required"
    assert first.json()["session"] is None
    assert not [c for c in first.headers.get_list("set-cookie") if c.startswith("portal_session=")]
    assert browser.get("/api/identity/v1/users/me").status_code == 401  # no session before the second factor
    code = fresh_totp(secret, used)
    step = browser.post("/api/identity/v1/login/mfa", json={"code": code})  # challenge from the portal_mfa cookie
    assert step.status_code == 200, step.text
    assert step.json()["session"]["mfa"] is True
    assert browser.get("/api/identity/v1/users/me").status_code == 200
    # The same code again, in a new sign-in: refused exactly like a wrong code.
    second, again = log_in(stack, account.email)
    replay = second.post("/api/identity/v1/login/mfa", json={"code": code})
    wrong = second.post("/api/identity/v1/login/mfa", json={"code": "123456" if code != "123456" else "654321"})
    assert replay.status_code == wrong.status_code == 401
    replay_body, wrong_body = replay.json(), wrong.json()
    for body in (replay_body, wrong_body):
        body.pop("request_id")
    assert replay_body == wrong_body
    assert replay_body["code"] == "invalid_mfa_code"
    assert again.json()["status"] == "mfa_required"


def test_a_recovery_code_signs_in_once(stack: Stack) -> None:
    account = sign_up(stack)
    _, codes = enrol_mfa(account, set())
    client, first = log_in(stack, account.email, token_delivery="bearer")
    token = first.json()["mfa_token"]
    ok = client.post(
        "/api/identity/v1/login/mfa",
        json={"mfa_token": token, "recovery_code": codes[0].upper(), "token_delivery": "bearer"},
    )
    assert ok.status_code == 200, ok.text
    bearer = ok.json()["session"]["token"]
    status = client.get("/api/identity/v1/mfa", headers={"authorization": f"Bearer {bearer}"})
    assert status.json()["recovery_codes_left"] == 9
    # The challenge is single use, and so is the recovery code.
    reuse_challenge = client.post("/api/identity/v1/login/mfa", json={"mfa_token": token, "recovery_code": codes[1]})
    assert reuse_challenge.status_code == 401
    client2, _ = log_in(stack, account.email)
    reuse_code = client2.post("/api/identity/v1/login/mfa", json={"recovery_code": codes[0]})
    assert reuse_code.status_code == 401
    assert reuse_code.json()["code"] == "invalid_mfa_code"


def test_mfa_attempts_are_rate_limited(stack: Stack) -> None:
    account = sign_up(stack)
    enrol_mfa(account, set())
    client, _ = log_in(stack, account.email)
    statuses = [client.post("/api/identity/v1/login/mfa", json={"code": "000000"}).status_code for _ in range(7)]
    assert statuses[:4] == [401] * 4
    assert statuses[-1] == 429
    limited = client.post("/api/identity/v1/login/mfa", json={"code": "000000"})
    assert int(limited.headers["retry-after"]) > 0


def test_disabling_mfa_needs_a_code_and_is_announced(stack: Stack) -> None:
    account = sign_up(stack)
    used: set[int] = set()
    secret, _ = enrol_mfa(account, used)
    refused = account.client.post(
        "/api/identity/v1/mfa/totp/disable", json={"code": "000000"}, headers=account.unsafe_headers()
    )
    assert refused.status_code == 401
    ok = account.client.post(
        "/api/identity/v1/mfa/totp/disable", json={"code": fresh_totp(secret, used)}, headers=account.unsafe_headers()
    )
    assert ok.status_code == 204, ok.text
    assert account.client.get("/api/identity/v1/mfa").json()["enabled"] is False
    _, login = log_in(stack, account.email)
    assert login.json()["status"] == "signed_in"
    stack.tap.wait_for("portal.identity.mfa.enabled.v1", user_id=account.user_id)
    stack.tap.wait_for("portal.identity.mfa.disabled.v1", user_id=account.user_id)
