import json
import time

import pytest
from joserfc.jwk import OKPKey
from portal_core.assertion import AssertionSigner, AssertionVerifier, Identity
from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK, DEV_ASSERTION_PUBLIC_JWKS
from portal_core.errors import Unauthorized

ALICE = Identity(tenant_id="t1", user_id="u1", session_id="s1", roles=("admin",), mfa=True)


def test_minted_assertion_verifies_for_its_audience() -> None:
    token = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(ALICE, "storage")
    assert AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "storage").verify(token) == ALICE


def test_assertion_for_another_service_is_refused() -> None:
    token = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(ALICE, "storage")
    with pytest.raises(Unauthorized):
        AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "identity").verify(token)


def test_expired_assertion_is_refused() -> None:
    token = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK, ttl_seconds=60).mint(ALICE, "audit", now=1_000)
    verifier = AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "audit", leeway_seconds=5)
    assert verifier.verify(token, now=1_064).user_id == "u1"
    with pytest.raises(Unauthorized) as err:
        verifier.verify(token, now=1_066)
    assert err.value.code == "expired_assertion"


def test_tampered_payload_is_refused() -> None:
    token = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(ALICE, "audit")
    header, payload, signature = token.split(".")
    forged = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    with pytest.raises(Unauthorized):
        AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "audit").verify(f"{header}.{forged}.{signature}")


def test_key_not_in_the_jwks_is_refused() -> None:
    stranger = OKPKey.generate_key("Ed25519", parameters={"kid": "dev-2026-12"})
    token = AssertionSigner(json.dumps(stranger.as_dict(private=True))).mint(ALICE, "audit")
    with pytest.raises(Unauthorized):
        AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "audit").verify(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "x" * 5000])
def test_garbage_is_unauthorized_not_a_crash(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "audit").verify(garbage)


def test_rotation_accepts_both_keys_in_the_set() -> None:
    new_key = OKPKey.generate_key("Ed25519", parameters={"kid": "next"})
    jwks = json.loads(DEV_ASSERTION_PUBLIC_JWKS)
    jwks["keys"].append(new_key.as_dict(private=False))
    verifier = AssertionVerifier(jwks, "audit")
    old = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK).mint(ALICE, "audit")
    new = AssertionSigner(json.dumps(new_key.as_dict(private=True))).mint(ALICE, "audit")
    assert verifier.verify(old) == verifier.verify(new) == ALICE


def test_a_reused_assertion_is_verified_once_but_still_expires() -> None:
    signer = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK, ttl_seconds=60)
    verifier = AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, "ai")
    token = signer.mint(ALICE, "ai")
    assert verifier.verify(token) == ALICE
    assert verifier.verify(token) == ALICE  # the remembered verification
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(token, now=time.time() + 3600)
    assert refused.value.code == "expired_assertion"
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthorized):  # other bytes are verified afresh, never matched to the remembered one
        verifier.verify(f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}")
