"""No password, code, token or TOTP secret ever appears in an event or a log line."""

from __future__ import annotations

import time

from identity_support import LOGS, PASSWORD, Stack, enrol_mfa, fresh_totp, log_in, new_email, sign_up


def test_secrets_stay_out_of_events_and_logs(stack: Stack) -> None:
    used: set[int] = set()
    account = sign_up(stack)
    secret, recovery_codes = enrol_mfa(account, used)
    # Failed and successful sign-ins, with every kind of secret on the wire.
    stack.client().post("/api/identity/v1/login", json={"email": account.email, "password": "wrong password 456"})
    client, challenge = log_in(stack, account.email, token_delivery="bearer")
    mfa_token = challenge.json()["mfa_token"]
    client.post("/api/identity/v1/login/mfa", json={"mfa_token": mfa_token, "code": "000000"})
    code = fresh_totp(secret, used)
    signed_in = client.post(
        "/api/identity/v1/login/mfa", json={"mfa_token": mfa_token, "code": code, "token_delivery": "bearer"}
    )
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()["session"]
    bearer = {"authorization": f"Bearer {session['token']}"}
    invitation = client.post("/api/identity/v1/invitations", json={"email": new_email()}, headers=bearer).json()
    client.post("/api/identity/v1/invitations/accept", json={"token": invitation["token"], "password": PASSWORD + "!"})
    new_password = "yet another long passphrase"
    client.post(
        "/api/identity/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer,
    )
    client.post("/api/identity/v1/logout", headers=bearer)
    stack.tap.wait_for("portal.identity.session.revoked.v1", session_id=session["session_id"])
    time.sleep(0.3)

    secrets = {
        "password": PASSWORD,
        "new password": new_password,
        "wrong password": "wrong password 456",
        "totp secret": secret,
        "totp code": code,
        "recovery code": recovery_codes[0],
        "mfa token": mfa_token,
        "session token": session["token"],
        "csrf token": session["csrf_token"],
        "signup csrf token": account.csrf,
        "invitation token": invitation["token"],
    }
    events = stack.tap.about(account.user_id, account.tenant_id)
    assert len(events) >= 6
    subjects = {e["subject"] for e in events}
    assert {
        "portal.identity.user.created.v1",
        "portal.identity.login.succeeded.v1",
        "portal.identity.login.failed.v1",
        "portal.identity.mfa.enabled.v1",
        "portal.identity.session.revoked.v1",
        "portal.identity.invitation.created.v1",
        "portal.identity.user.password_changed.v1",
    } <= subjects
    assert LOGS.lines, "the log capture saw nothing: this test would pass vacuously"
    for name, value in secrets.items():
        for event in events:
            assert value not in event["raw"].decode(), f"{name} in {event['subject']}"
            assert value not in str(event["headers"]), f"{name} in the headers of {event['subject']}"
        leaked = [line for line in LOGS.lines if value in line]
        assert not leaked, f"{name} in a log line: {leaked[0][:200]}"


def test_events_record_who_and_how(stack: Stack) -> None:
    account = sign_up(stack)
    created = stack.tap.wait_for("portal.identity.user.created.v1", user_id=account.user_id)
    assert created["data"]["email"] == account.email
    assert created["data"]["role"] == "owner"
    assert created["headers"]["ce-tenant"] == account.tenant_id
    assert created["headers"]["ce-actor"] == account.user_id
    stack.client().post("/api/identity/v1/login", json={"email": account.email, "password": "not it at all 1"})
    failed = stack.tap.wait_for("portal.identity.login.failed.v1", user_id=account.user_id)
    assert failed["data"]["reason"] == "invalid_credentials"
    assert failed["data"]["method"] == "password"
    assert failed["headers"]["ce-outcome"] == "failure"
    assert failed["headers"]["ce-actor"] == account.user_id
    assert failed["headers"]["ce-clientip"].startswith("10.")
