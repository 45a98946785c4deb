"""A provider's signing keys (JWKS), cached, refetched when a token names a key we do not hold yet."""

from __future__ import annotations

import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from identity.oauth.errors import ProviderUnavailable

# Refetch for an unknown kid at most this often: a flood of forged kids must not become a flood of fetches.
_MISS_COOLDOWN_SECONDS = 30.0
# Keys rotate rarely; refetch anyway after this long so a withdrawn key stops being trusted.
_MAX_AGE_SECONDS = 24 * 3600.0


class JwksCache:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._miss_refetched_at = float("-inf")

    async def key_set_for(self, kid: str | None) -> KeySet:
        """The key set, refetched first when stale, or when it lacks `kid` (a rotation; at most every 30 s)."""
        now = time.monotonic()
        if self._keys is None or now - self._fetched_at > _MAX_AGE_SECONDS:
            self._keys, self._fetched_at = await self._fetch(), now
        elif (
            kid is not None
            and not _has_kid(self._keys, kid)
            and now - self._miss_refetched_at >= _MISS_COOLDOWN_SECONDS
        ):
            self._miss_refetched_at = now
            self._keys, self._fetched_at = await self._fetch(), now
        assert self._keys is not None
        return self._keys

    async def _fetch(self) -> KeySet:
        try:
            response = await self._http.get(self._url, headers={"accept": "application/json"})
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            keys = [k for k in data.get("keys", []) if k.get("use", "sig") == "sig"]
            return KeySet.import_key_set({"keys": keys})
        except (httpx.HTTPError, ValueError, JoseError, AttributeError) as exc:
            raise ProviderUnavailable("The sign-in provider's keys could not be fetched") from exc


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
