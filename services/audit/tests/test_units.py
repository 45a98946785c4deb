"""Pure parts: secret-looking keys, canonical bodies, targets, cursors, the signing key."""

from __future__ import annotations

import pytest
from audit.chain.signing import HeadSigner
from audit.ingest.mapping import canonical_body, target_type
from audit.ingest.redaction import is_secret_key
from audit.settings import DEV_CHECKPOINT_SIGNING_KEY, AuditSettings
from portal_core.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "key", ["password", "new_password", "apiKey", "api_key", "accessToken", "client_secret", "Authorization", "otp"]
)
def test_secret_looking_keys_are_masked(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["input_tokens", "email", "tokens_used", "object_key_prefix", "passport_country", "path"]
)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)


def test_bodies_are_canonical_and_non_json_is_kept_as_base64() -> None:
    assert canonical_body(b'{"b": 1, "a": {"token": "t", "z": [1, {"secret": 2}]}}') == (
        '{"a":{"token":"[redacted]","z":[1,{"secret":"[redacted]"}]},"b":1}'
    )
    assert canonical_body(b"\xff not json") == '{"undecodable_base64":"/yBub3QganNvbg=="}'


def test_target_type_comes_from_the_event_type() -> None:
    assert target_type("portal.identity.user.created.v1") == "identity.user"
    assert target_type("something.else") is None


def test_signing_key_must_be_a_32_byte_seed() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        HeadSigner("c2hvcnQ")


def test_production_refuses_the_published_checkpoint_key() -> None:
    environ = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql://audit@db/portal",
        "IDENTITY_ASSERTION_PUBLIC_JWKS": '{"keys": []}',
        "CURSOR_SECRET": "production cursor secret",
    }
    with pytest.raises(SettingsError, match="AUDIT_CHECKPOINT_SIGNING_KEY"):
        load_settings(AuditSettings, environ)
    own_key = load_settings(AuditSettings, {**environ, "AUDIT_CHECKPOINT_SIGNING_KEY": "b" * 43})
    assert (
        HeadSigner(own_key.audit_checkpoint_signing_key.reveal()).key_id
        != HeadSigner(DEV_CHECKPOINT_SIGNING_KEY).key_id
    )
