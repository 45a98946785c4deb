"""CORS: the gateway answers preflights; listed origins get credentials; others get nothing."""

from __future__ import annotations

import httpx

ALLOWED = "https://app.example"


async def preflight(gateway: str, origin: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway) as client:
        return await client.options(
            "/api/echo/v1/things",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, idempotency-key",
            },
        )


async def test_preflight_from_listed_origin(gateway: str, upstream: object) -> None:
    r = await preflight(gateway, ALLOWED)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "content-type, idempotency-key"


async def test_preflight_from_other_origin_is_refused(gateway: str) -> None:
    r = await preflight(gateway, "https://evil.example")
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    assert r.json()["code"] == "cors_origin_not_allowed"


async def test_actual_request_carries_cors_only_for_listed_origins(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:
        allowed = await client.get("/api/echo/v1/things", headers={"Origin": ALLOWED})
        other = await client.get("/api/echo/v1/things", headers={"Origin": "https://evil.example"})
        failed = await client.get("/api/nosuch/things", headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in allowed.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other.headers
    assert other.status_code == 200  # CORS is the browser's rule; the gateway just withholds the grant
    assert failed.headers["access-control-allow-origin"] == ALLOWED  # errors readable by the app too


def test_wildcard_never_goes_with_credentials() -> None:
    from gateway.cors import CorsPolicy

    headers = dict(CorsPolicy(["*"]).response_headers(b"https://any.example"))
    assert headers[b"access-control-allow-origin"] == b"*"
    assert b"access-control-allow-credentials" not in headers
