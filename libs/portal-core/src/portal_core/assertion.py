"""The gateway's signed identity assertion: an Ed25519 JWT minted per request, verified by services.

Services trust only this header, never bare identity headers: the gateway strips any client-sent copy.
The audience is the target service, so an assertion for one service cannot be replayed at another.
"""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey
from joserfc.jws import JWSRegistry

from portal_core.errors import Unauthorized

IDENTITY_HEADER = "x-portal-identity"
ISSUER = "portal-gateway"
_ALGORITHM = "Ed25519"
_registry = JWSRegistry(algorithms=[_ALGORITHM])
_MAX_VERIFIED = 10_000  # verified assertions remembered per verifier (expired ones dropped first)


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling. Anonymous callers (public routes) have no user and no tenant."""

    tenant_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    mfa: bool = False
    client_ip: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Identity()


class AssertionSigner:
    """Mints assertions with one private Ed25519 JWK (its `kid` lets services rotate keys)."""

    def __init__(self, private_jwk: str | dict[str, Any], ttl_seconds: int = 60) -> None:
        data = json.loads(private_jwk) if isinstance(private_jwk, str) else private_jwk
        self._key = OKPKey.import_key(data)
        self._header = {"alg": _ALGORITHM, "kid": data.get("kid", "default"), "typ": "JWT"}
        self.ttl_seconds = ttl_seconds

    def mint(self, identity: Identity, audience: str, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            **msgspec.structs.asdict(identity),
        }
        return jwt.encode(self._header, claims, self._key, registry=_registry)


class AssertionVerifier:
    """Verifies assertions against a JWKS (several keys during a rotation) for one audience."""

    def __init__(self, public_jwks: str | dict[str, Any], audience: str, leeway_seconds: int = 5) -> None:
        data = json.loads(public_jwks) if isinstance(public_jwks, str) else public_jwks
        self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        self._audience = audience
        self._leeway = leeway_seconds
        self._verified: dict[str, tuple[Identity, int]] = {}  # token -> (identity, exp): a signature checked once

    def verify(self, token: str, now: float | None = None) -> Identity:
        current = time.time() if now is None else now
        hit = self._verified.get(token)
        if hit is not None:
            # The gateway reuses an assertion for half its TTL (gateway/identity.py): the same bytes under the
            # same keys verify the same way, so only the expiry is checked again.
            identity, exp = hit
            if exp + self._leeway < current:
                raise Unauthorized("The identity assertion has expired", code="expired_assertion")
            return identity
        identity, exp = self._verify(token, current)
        if len(self._verified) >= _MAX_VERIFIED:
            self._verified = {t: v for t, v in self._verified.items() if v[1] + self._leeway >= current}
            if len(self._verified) >= _MAX_VERIFIED:
                self._verified.clear()
        self._verified[token] = (identity, exp)
        return identity

    def _verify(self, token: str, current: float) -> tuple[Identity, int]:
        try:
            claims = jwt.decode(token, self._keys, registry=_registry).claims
        except (JoseError, ValueError) as exc:
            raise Unauthorized("The identity assertion is not valid", code="invalid_assertion") from exc
        if claims.get("iss") != ISSUER or claims.get("aud") != self._audience:
            raise Unauthorized("The identity assertion is not for this service", code="invalid_assertion")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + self._leeway < current:
            raise Unauthorized("The identity assertion has expired", code="expired_assertion")
        try:
            return msgspec.convert(claims, Identity), exp
        except msgspec.ValidationError as exc:
            raise Unauthorized("The identity assertion is malformed", code="invalid_assertion") from exc
