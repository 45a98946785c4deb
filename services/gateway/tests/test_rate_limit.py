"""Per-IP rate limit in Redis: RateLimit headers on every answer, 429 with Retry-After past the budget."""

from __future__ import annotations

from typing import Any

import httpx


async def test_budget_then_429_with_retry_after(strict_gateway: str, client_ip: str) -> None:
    headers = {"X-Forwarded-For": client_ip}
    async with httpx.AsyncClient(base_url=strict_gateway) as client:
        answers = [await client.get("/api/echo/v1/things", headers=headers) for _ in range(4)]
        other_client = await client.get("/api/echo/v1/things", headers={"X-Forwarded-For": "192.0.2.77"})
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in answers)
    assert all(1 <= int(r.headers["ratelimit-reset"]) <= 60 for r in answers)
    limited = answers[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "rate_limited"
    assert 15 <= int(limited.headers["retry-after"]) <= 20  # one request per 20 s refills the bucket
    assert limited.json()["retry_after"] == int(limited.headers["retry-after"])
    assert other_client.status_code == 200  # budgets are per client IP


async def test_forwarded_for_from_untrusted_peer_does_not_buy_a_new_budget(gateway: str, make_gateway: Any) -> None:
    with make_gateway(RATE_LIMIT_REQUESTS="2") as server:  # trusts no proxy: the peer address counts
        async with httpx.AsyncClient(base_url=server.url) as client:
            codes = [
                (await client.get("/api/echo/v1/x", headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
                for n in range(3)
            ]
    assert codes == [200, 200, 429]


async def test_redis_down_fails_open(gateway: str, make_gateway: Any, refused_url: str) -> None:
    port = refused_url.rsplit(":", 1)[1]
    with make_gateway(REDIS_PORT=port) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            answers = [await client.get("/api/echo/v1/things") for _ in range(3)]
            ready = await client.get("/readyz")
            metrics = await client.get("/metrics")
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert all("ratelimit-limit" not in r.headers for r in answers)
    assert ready.status_code == 503
    assert "rate_limit_redis_failures" in metrics.text
