"""Settings refuse a bad environment at start; assertions are minted once per identity and audience."""

from __future__ import annotations

import pytest
from gateway.identity import AssertionCache
from gateway.settings import GatewaySettings
from portal_core.assertion import AssertionSigner, AssertionVerifier, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK, DEV_ASSERTION_PUBLIC_JWKS
from portal_core.settings import SettingsError, load_settings


def test_named_upstreams_merge_with_the_json_map() -> None:
    settings = load_settings(
        GatewaySettings,
        {"UPSTREAMS": '{"echo": "http://127.0.0.1:9/", "ai": "http://old"}', "UPSTREAM_AI_URL": "http://ai:8000"},
    )
    assert settings.upstream_urls() == {"echo": "http://127.0.0.1:9", "ai": "http://ai:8000"}
    assert settings.port == 4000
    assert settings.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UPSTREAMS": "not json"}, "UPSTREAMS"),
        ({"UPSTREAMS": '{"docs": "http://x"}'}, "docs"),
        ({"UPSTREAM_STORAGE_URL": "storage:8000"}, "http://"),
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"),
        ({"MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES"),
        ({"ENVIRONMENT": "production"}, "IDENTITY_ASSERTION_PRIVATE_JWK"),
    ],
)
def test_bad_environment_stops_the_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(GatewaySettings, env)


def test_assertions_are_reused_per_identity_and_audience() -> None:
    signer = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK, ttl_seconds=60)
    cache = AssertionCache(signer, max_entries=2)
    alice = Identity(client_ip="192.0.2.1")
    first = cache.assertion(alice, "storage")
    assert cache.assertion(alice, "storage") is first
    assert cache.assertion(alice, "audit") != first
    bob = Identity(client_ip="192.0.2.2")
    assert AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "storage").verify(cache.assertion(bob, "storage")) == bob
