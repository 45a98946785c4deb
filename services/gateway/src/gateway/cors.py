"""CORS, decided once at the edge: listed origins get credentials, "*" gets neither credentials nor echo."""

from __future__ import annotations

from collections.abc import Iterable

_ALLOWED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_EXPOSED = b"x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, content-disposition"
_MAX_AGE = b"600"


class CorsPolicy:
    def __init__(self, origins: Iterable[str]) -> None:
        listed = list(origins)
        self._any = "*" in listed
        self._origins = frozenset(o.encode() for o in listed if o != "*")

    def response_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """Headers for an actual (non-preflight) response to a request that carried `Origin`."""
        if origin is None:
            return []
        if origin in self._origins:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", _EXPOSED),
                (b"vary", b"Origin"),
            ]
        if self._any:
            # A wildcard answer must never carry credentials (browsers refuse it, and it would leak them).
            return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", _EXPOSED)]
        return []

    def preflight_headers(self, origin: bytes, request_headers: bytes | None) -> list[tuple[bytes, bytes]] | None:
        """Headers answering a preflight from `origin`, or None when the origin is not allowed."""
        base = self.response_headers(origin)
        if not base:
            return None
        out = [h for h in base if h[0] != b"access-control-expose-headers"]
        out.append((b"access-control-allow-methods", _ALLOWED_METHODS))
        if request_headers:
            out.append((b"access-control-allow-headers", request_headers))
        out.append((b"access-control-max-age", _MAX_AGE))
        if origin in self._origins:
            out.append((b"vary", b"Access-Control-Request-Method, Access-Control-Request-Headers"))
        return out
