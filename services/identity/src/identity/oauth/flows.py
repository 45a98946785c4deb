"""Started sign-ins in Redis: state -> (nonce, PKCE verifier, intent, who asked), short-lived and single use.

The key is a hash of the state, so Redis never holds a usable state. Each flow is also bound to the browser
that started it (a random value in a cookie, stored hashed): a state lifted from another browser is useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

import msgspec
from redis.asyncio import Redis

from identity.oauth.errors import InvalidOAuthState

Intent = Literal["login", "link"]


class Flow(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    nonce: str
    code_verifier: str
    intent: Intent
    browser_binding_hash: str
    return_to: str = "/"
    # Set for a link flow: the signed-in user and session that asked for it.
    user_id: str | None = None
    tenant_id: str | None = None
    session_id: str | None = None


class StartedFlow(msgspec.Struct, frozen=True):
    state: str
    browser_binding: str  # goes in the flow cookie
    flow: Flow


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Flow)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class FlowStore:
    def __init__(self, redis: Redis, key_prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}oauth:flow:"
        self._ttl = ttl_seconds

    async def start(
        self,
        provider: str,
        intent: Intent,
        return_to: str,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
        session_id: str | None = None,
    ) -> StartedFlow:
        state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        flow = Flow(
            provider=provider,
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43..128
            intent=intent,
            browser_binding_hash=_digest(binding),
            return_to=return_to,
            user_id=user_id,
            tenant_id=tenant_id,
            session_id=session_id,
        )
        await self._redis.set(self._prefix + _digest(state), _encoder.encode(flow), ex=self._ttl)
        return StartedFlow(state, binding, flow)

    async def finish(self, provider: str, state: str, browser_binding: str | None) -> Flow:
        """The flow `state` started, removed so it cannot be used twice; InvalidOAuthState if it does not fit."""
        if not state or len(state) > 200:
            raise InvalidOAuthState()
        raw = await self._redis.getdel(self._prefix + _digest(state))
        if raw is None:
            raise InvalidOAuthState()
        flow = _decoder.decode(raw)
        bound = browser_binding is not None and hmac.compare_digest(_digest(browser_binding), flow.browser_binding_hash)
        if flow.provider != provider or not bound:
            raise InvalidOAuthState()
        return flow
