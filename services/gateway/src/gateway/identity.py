"""Who the caller is, and the signed assertion that tells the target service."""

from __future__ import annotations

import time
from typing import Any, Protocol

from portal_core.assertion import AssertionSigner, Identity


class IdentityResolver(Protocol):
    """Turns a request (its cookie or bearer token, method and path) into an Identity, or raises a 401/403.

    gateway.sessions.SessionResolver asks the identity service; AnonymousResolver is for SESSION_AUTH=off.
    """

    async def resolve(self, scope: dict[str, Any], client_ip: str) -> Identity: ...


class AnonymousResolver:
    """Everyone is anonymous (SESSION_AUTH=off, or auto without an identity service)."""

    async def resolve(self, scope: dict[str, Any], client_ip: str) -> Identity:
        return Identity(client_ip=client_ip)


class AssertionCache:
    """Reuses a minted assertion per (identity, audience) for half its TTL: an Ed25519 signature per
    request would cost more than the rest of the proxy path. Bounded, oldest entries dropped first.
    """

    def __init__(self, signer: AssertionSigner, max_entries: int = 10_000) -> None:
        self._signer = signer
        self._reuse_seconds = signer.ttl_seconds / 2
        self._max_entries = max_entries
        self._entries: dict[tuple[Identity, str], tuple[bytes, float]] = {}

    def assertion(self, identity: Identity, audience: str) -> bytes:
        key = (identity, audience)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        token = self._signer.mint(identity, audience).encode()
        self._entries.pop(key, None)
        if len(self._entries) >= self._max_entries:
            self._evict(now)
        self._entries[key] = (token, now + self._reuse_seconds)
        return token

    def _evict(self, now: float) -> None:
        # Drop expired entries; if all are fresh, drop the oldest tenth (dicts keep insertion order).
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        if len(self._entries) >= self._max_entries:
            for key in list(self._entries)[: max(1, self._max_entries // 10)]:
                del self._entries[key]
