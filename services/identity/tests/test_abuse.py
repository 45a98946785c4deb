"""Abuse limits: per-account and per-IP lockouts with Retry-After, and no user enumeration."""

from __future__ import annotations

import statistics
import time

from identity_support import PASSWORD, Stack, new_email, random_ip, sign_up


def test_brute_force_on_one_account_meets_429_with_retry_after(stack: Stack) -> None:
    account = sign_up(stack)
    statuses = []
    for _ in range(7):
        client = stack.client()  # a new IP each time: the account limit holds on its own
        statuses.append(
            client.post("/api/identity/v1/login", json={"email": account.email, "password": "wrong password 123"})
        )
    assert [r.status_code for r in statuses[:5]] == [401] * 5
    limited = statuses[-1]
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    retry_after = int(limited.headers["retry-after"])
    assert 0 < retry_after <= stack.settings.login_lockout_seconds
    # Even the right password waits out the lockout.
    right = stack.client().post("/api/identity/v1/login", json={"email": account.email, "password": PASSWORD})
    assert right.status_code == 429
    failures = [e for e in stack.tap.about(account.user_id) if e["subject"] == "portal.identity.login.failed.v1"]
    assert failures
    assert all(e["headers"]["ce-outcome"] == "failure" for e in failures)


def test_many_accounts_from_one_ip_meet_429(stack: Stack) -> None:
    ip = random_ip()
    client = stack.client(ip)
    statuses = [
        client.post("/api/identity/v1/login", json={"email": new_email(), "password": "wrong password 123"}).status_code
        for _ in range(stack.settings.login_max_failures_per_ip + 1)
    ]
    assert statuses[: stack.settings.login_max_failures_per_ip] == [401] * stack.settings.login_max_failures_per_ip
    assert statuses[-1] == 429
    other_ip = stack.client().post("/api/identity/v1/login", json={"email": new_email(), "password": "x" * 12})
    assert other_ip.status_code == 401


def test_unknown_emails_read_exactly_like_wrong_passwords(stack: Stack) -> None:
    account = sign_up(stack)
    unknown = new_email()

    def attempt(email: str) -> tuple[int, dict, float]:
        start = time.perf_counter()
        response = stack.client().post("/api/identity/v1/login", json={"email": email, "password": "wrong password 1"})
        elapsed = time.perf_counter() - start
        body = response.json()
        body.pop("request_id")
        return response.status_code, body, elapsed

    known_runs, unknown_runs = [], []
    for _ in range(4):  # interleaved, so the machine's load drifts over both alike
        known_runs.append(attempt(account.email))
        unknown_runs.append(attempt(unknown))
    assert {(s, str(b)) for s, b, _ in known_runs} == {(s, str(b)) for s, b, _ in unknown_runs}
    # Both paths run one argon2id verification (tens of ms); skipping it for unknown emails would make them
    # ~50x faster. A factor of 4 tolerates a busy machine and still catches that.
    known_median = statistics.median(t for *_, t in known_runs)
    unknown_median = statistics.median(t for *_, t in unknown_runs)
    assert unknown_median > known_median / 4
    assert known_median > unknown_median / 4
    # The fifth failure locks an unknown email just like a known one.
    assert attempt(unknown)[0] == 401
    assert attempt(account.email)[0] == 401
    for email in (unknown, account.email):
        locked = stack.client().post("/api/identity/v1/login", json={"email": email, "password": "x" * 12})
        assert locked.status_code == 429
