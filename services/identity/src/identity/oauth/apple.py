"""Apple's client secret: an ES256 JWT signed with the app's .p8 key, regenerated before it expires."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import ECKey

from identity.oauth.config import AppleKey

_LIFETIME_SECONDS = 3600  # Apple allows up to six months; short keeps a leaked secret short-lived


class AppleClientSecret:
    def __init__(self, key: AppleKey, client_id: str, audience: str) -> None:
        self._private_key = ECKey.import_key(key.private_key_pem.reveal())
        self._header = {"alg": "ES256", "kid": key.key_id}
        self._team_id = key.team_id
        self._client_id = client_id
        self._audience = audience  # Apple's issuer, https://appleid.apple.com
        self._secret = ""
        self._renew_at = 0.0

    def current(self, now: float | None = None) -> str:
        """A valid secret, reused until half its lifetime has passed."""
        moment = time.time() if now is None else now
        if moment >= self._renew_at:
            issued = int(moment)
            claims = {
                "iss": self._team_id,
                "iat": issued,
                "exp": issued + _LIFETIME_SECONDS,
                "aud": self._audience,
                "sub": self._client_id,
            }
            self._secret = jwt.encode(self._header, claims, self._private_key, algorithms=["ES256"])
            self._renew_at = moment + _LIFETIME_SECONDS / 2
        return self._secret
