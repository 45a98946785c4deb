"""Verify an OpenID Connect id token: signature against the provider's JWKS, then iss, aud, exp, nonce."""

from __future__ import annotations

import hmac
import time
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from identity.oauth.errors import InvalidIdToken
from identity.oauth.jwks import JwksCache

# Asymmetric only: "none" and HS256 (keyed with the public client secret's peer) are never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
_LEEWAY_SECONDS = 60  # clock skew between us and the provider


async def verify_id_token(
    token: str, *, jwks: JwksCache, issuer: str, client_id: str, nonce: str, now: float | None = None
) -> dict[str, Any]:
    """The token's claims once every check passed; InvalidIdToken naming the failed check otherwise."""
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise InvalidIdToken("The identity token is malformed") from exc
    if header.get("alg") not in ALGORITHMS:
        raise InvalidIdToken("The identity token is signed with an algorithm we do not accept")
    keys = await jwks.key_set_for(header.get("kid"))
    try:
        claims = jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims
    except (JoseError, ValueError) as exc:
        raise InvalidIdToken("The identity token's signature does not verify") from exc
    _check_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=time.time() if now is None else now)
    return claims


def _check_claims(claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str, now: float) -> None:
    if claims.get("iss") != issuer:
        raise InvalidIdToken("The identity token comes from another issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if client_id not in audiences:
        raise InvalidIdToken("The identity token was issued to another client")
    # OIDC core 3.1.3.7: with several audiences, the authorized party must be us.
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise InvalidIdToken("The identity token was issued to another client")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise InvalidIdToken("The identity token lacks its validity times")
    if exp + _LEEWAY_SECONDS < now:
        raise InvalidIdToken("The identity token has expired")
    if iat - _LEEWAY_SECONDS > now:
        raise InvalidIdToken("The identity token was issued in the future")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce.encode(), nonce.encode()):
        raise InvalidIdToken("The identity token does not answer this sign-in attempt")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidIdToken("The identity token names no subject")
