"""Opaque secrets handed to clients (session tokens, invitation tokens, MFA challenges, recovery codes).

They carry 256 bits of randomness (recovery codes 80), so a plain SHA-256 is enough to store them:
nobody can brute-force the preimage, and a lookup by hash stays one indexed read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud, typed by hand


def new_token() -> str:
    """A fresh URL-safe token with 256 bits of entropy."""
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()


def token_hash(token: str) -> bytes:
    """What is stored instead of `token`."""
    return hashlib.sha256(token.encode()).digest()


def token_hash_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def new_recovery_code() -> str:
    """`xxxx-xxxx-xxxx-xxxx` from a 31-letter alphabet: ~79 bits."""
    letters = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(letters[i : i + 4] for i in range(0, 16, 4))


def normalise_recovery_code(code: str) -> str:
    letters = "".join(ch for ch in code.lower() if ch.isalnum())
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))
