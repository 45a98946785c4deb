"""The security building blocks on their own: key rotation, replay TTL, password policy, settings."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from identity.errors import WeakPassword
from identity.mfa.replay import TotpReplayGuard
from identity.mfa.service import _matching_step
from identity.security.passwords import Passwords, check_password_policy
from identity.security.secretbox import SecretBox
from identity.security.tokens import new_recovery_code, new_token, normalise_recovery_code
from identity.settings import IdentitySettings
from identity_support import IDENTITY_PREFIX
from portal_core.settings import SettingsError, load_settings
from portal_core.test_infra import redis_address


def test_totp_secrets_survive_a_key_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = SecretBox(old)
    stored = before.encrypt("JBSWY3DPEHPK3PXP")
    rotated_box = SecretBox(f"{new},{old}")
    assert rotated_box.decrypt(stored) == "JBSWY3DPEHPK3PXP"
    assert rotated_box.needs_rotation(stored)
    rewritten = rotated_box.rotate(stored)
    assert not rotated_box.needs_rotation(rewritten)
    assert SecretBox(new).decrypt(rewritten) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(ValueError, match="decrypted"):
        SecretBox(new).decrypt(stored)
    with pytest.raises(ValueError, match="TOTP_ENCRYPTION_KEYS"):
        SecretBox("not-a-key")


async def test_a_totp_step_is_claimed_once_and_remembered_long_enough() -> None:
    host, port = redis_address()
    client = aioredis.Redis(host=host, port=port)
    try:
        guard = TotpReplayGuard(client, IDENTITY_PREFIX + "unit:", valid_window=1)
        assert guard.record_ttl_seconds == 90  # (2*1+1)*30
        assert await guard.claim("user-1", 1000) is True
        assert await guard.claim("user-1", 1000) is False
        assert await guard.claim("user-2", 1000) is True
        ttl = await client.ttl(f"{IDENTITY_PREFIX}unit:totp-used:user-1:1000")
        assert 85 <= ttl <= 90
    finally:
        await client.aclose()


def test_codes_match_only_within_the_window() -> None:
    import pyotp

    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = 1_700_000_015.0
    step = int(now // 30)
    assert _matching_step(secret, totp.generate_otp(step), 1, now) == step
    assert _matching_step(secret, totp.generate_otp(step - 1), 1, now) == step - 1
    assert _matching_step(secret, totp.generate_otp(step + 2), 1, now) is None
    assert _matching_step(secret, "12345", 1, now) is None
    assert _matching_step(secret, "abcdef", 1, now) is None


def test_password_policy() -> None:
    check_password_policy("correct horse battery", "ada@example.com", 12)
    for password in ("short", "ada@example.com", "ADA@EXAMPLE.COM", "adalovelace1", "aaaaaaaaaaaaaa"):
        email = "adalovelace1@example.com" if password == "adalovelace1" else "ada@example.com"
        with pytest.raises(WeakPassword):
            check_password_policy(password, email, 12)


async def test_argon2id_at_owasp_parameters() -> None:
    passwords = Passwords(19 * 1024, 2, 1)
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify(stored, "correct horse battery")
    assert not await passwords.verify(stored, "wrong horse battery")
    assert not await passwords.verify(None, "anything at all")
    assert not await passwords.verify("not a hash", "anything at all")


def test_tokens_and_recovery_codes() -> None:
    assert len({new_token() for _ in range(100)}) == 100
    assert len(new_token()) == 43  # 32 bytes base64url, no padding
    code = new_recovery_code()
    assert normalise_recovery_code(code.upper().replace("-", " ")) == code


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARGON2_MEMORY_KIB": "4096"}, "OWASP"),
        ({"PASSWORD_MIN_LENGTH": "8"}, "PASSWORD_MIN_LENGTH"),
        ({"ENVIRONMENT": "production", "COOKIE_SECURE": "false"}, "COOKIE_SECURE"),
        ({"ENVIRONMENT": "production"}, "TOTP_ENCRYPTION_KEYS"),
    ],
)
def test_settings_refuse_weak_configurations(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(IdentitySettings, env)
