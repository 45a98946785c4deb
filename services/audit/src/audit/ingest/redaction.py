"""Defence in depth: producers never put secrets in events, and audit still masks any key that looks secret."""

from __future__ import annotations

import functools
import re
from typing import Any

REDACTED = "[redacted]"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Whole words of a snake_case key: `input_tokens` stays, `access_token` and `apiKey` go.
_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|passphrase|pwd|secret|token|api_?key|private_?key|secret_?key|access_?key|"
    r"authorization|auth|cookie|set_cookie|credentials?|otp|totp|mfa_code|recovery_codes?|signature|"
    r"session_token|refresh_token|client_secret|ssn|card_number|cvv)($|_)"
)


@functools.lru_cache(maxsize=8192)  # events of one type repeat the same keys: decide each key once
def is_secret_key(key: str) -> bool:
    snake = _CAMEL.sub("_", key).lower().replace("-", "_")
    return _SECRET_KEY.search(snake) is not None


def redact(value: Any) -> Any:
    """A copy of a decoded JSON value with the value of every secret-looking key replaced by a mask."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
