"""The session lookup route: only the gateway can call it, and clients cannot reach it through the gateway."""

from __future__ import annotations

import httpx
from identity_support import Stack, sign_up
from portal_core.assertion import AssertionSigner, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
from portal_core.test_infra import redis_env

RESOLVE = "/internal/identity/v1/sessions/resolve"


def test_only_an_assertion_for_identity_internal_may_resolve_a_session(stack: Stack) -> None:
    account = sign_up(stack)
    token = account.client.cookies.get(stack.settings.session_cookie_name)
    signer = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK)
    body = {"token": token}
    with httpx.Client(base_url=stack.identity) as direct:
        assert direct.post(RESOLVE, json=body).status_code == 401
        # What the gateway sends with ordinary requests to identity is for another audience: refused.
        ordinary = signer.mint(Identity(user_id=account.user_id), "identity")
        assert direct.post(RESOLVE, json=body, headers={"x-portal-identity": ordinary}).status_code == 401
        internal = signer.mint(Identity(), "identity-internal")
        resolved = direct.post(RESOLVE, json=body, headers={"x-portal-identity": internal})
        assert resolved.status_code == 200
        assert resolved.json()["user_id"] == account.user_id
        assert resolved.json()["roles"] == ["owner"]
        unknown = direct.post(RESOLVE, json={"token": "nope"}, headers={"x-portal-identity": internal})
        assert unknown.json() == {"active": False}


def test_the_gateway_does_not_route_internal_paths(stack: Stack) -> None:
    account = sign_up(stack)
    for path in (RESOLVE, "/api/identity/../internal/identity/v1/sessions/resolve"):
        response = account.client.post(path, json={"token": "x"}, headers=account.unsafe_headers())
        assert response.status_code in (401, 404), (path, response.status_code)
        assert "active" not in response.text
    assert account.client.post(RESOLVE, json={"token": "x"}).status_code == 404


def test_without_identity_the_gateway_fails_closed() -> None:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from identity_support import GATEWAY_PREFIX
    from portal_core.settings import load_settings
    from portal_core.testing import ThreadServer, refusing_port

    with refusing_port() as port:
        env = {"ENVIRONMENT": "test", "UPSTREAM_IDENTITY_URL": f"http://127.0.0.1:{port}", **redis_env()}
        settings = load_settings(GatewaySettings, {**env, "REDIS_KEY_PREFIX": GATEWAY_PREFIX})
        with ThreadServer(create_app(settings)) as gateway, httpx.Client(base_url=gateway.url) as client:
            protected = client.get("/api/identity/v1/users/me", headers={"authorization": "Bearer some-token"})
            anonymous = client.get("/api/identity/v1/users/me")  # no credentials: no lookup needed
            public = client.post("/api/identity/v1/login", json={}, headers={"authorization": "Bearer some-token"})
    assert protected.status_code == 503
    assert protected.json()["code"] == "identity_unavailable"
    assert anonymous.status_code == 401
    assert public.status_code == 502  # went on anonymous to the (dead) upstream, not refused as 401/503
