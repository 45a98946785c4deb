"""What the lifespan builds once and every handler uses: one typed object on app.state.runtime.

Handlers declare `runtime: Runtime` (the dependency below); tests build a Runtime against real Redis and
Postgres the same way the lifespan does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from portal_core.assertion import AssertionVerifier
from portal_core.http import add_readiness_check
from portal_core.pagination import CursorCodec
from portal_core.redis import create_redis
from redis.asyncio import Redis

from identity.auth.challenges import ChallengeStore
from identity.auth.limits import AttemptLimiter
from identity.mfa.replay import TotpReplayGuard
from identity.security.passwords import Passwords
from identity.security.secretbox import SecretBox
from identity.sessions.store import SessionStore
from identity.settings import INTERNAL_AUDIENCE, IdentitySettings


@dataclass
class Runtime:
    settings: IdentitySettings
    redis: Redis
    passwords: Passwords
    secretbox: SecretBox
    sessions: SessionStore
    challenges: ChallengeStore
    login_limits: AttemptLimiter
    ip_limits: AttemptLimiter
    signup_limits: AttemptLimiter
    mfa_limits: AttemptLimiter
    totp_replay: TotpReplayGuard
    internal_verifier: AssertionVerifier
    pool: asyncpg.Pool
    cursors: CursorCodec


def build_runtime(settings: IdentitySettings, redis: Redis, pool: asyncpg.Pool) -> Runtime:
    prefix = settings.redis_key_prefix
    window, lockout = settings.login_failure_window_seconds, settings.login_lockout_seconds
    return Runtime(
        settings=settings,
        redis=redis,
        passwords=Passwords(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism),
        secretbox=SecretBox(settings.totp_encryption_keys.reveal()),
        sessions=SessionStore(redis, prefix, settings.session_idle_seconds, settings.session_absolute_seconds),
        challenges=ChallengeStore(redis, prefix, settings.mfa_challenge_seconds),
        login_limits=AttemptLimiter(
            redis,
            prefix,
            name="login-account",
            max_failures=settings.login_max_failures_per_account,
            window_seconds=window,
            lockout_seconds=lockout,
        ),
        ip_limits=AttemptLimiter(
            redis,
            prefix,
            name="login-ip",
            max_failures=settings.login_max_failures_per_ip,
            window_seconds=window,
            lockout_seconds=lockout,
        ),
        signup_limits=AttemptLimiter(
            redis,
            prefix,
            name="signup-ip",
            max_failures=settings.signup_max_per_ip,
            window_seconds=window,
            lockout_seconds=window,
        ),
        mfa_limits=AttemptLimiter(
            redis,
            prefix,
            name="mfa",
            max_failures=settings.mfa_max_attempts,
            window_seconds=settings.mfa_challenge_seconds,
            lockout_seconds=settings.mfa_challenge_seconds,
        ),
        totp_replay=TotpReplayGuard(redis, prefix, settings.totp_valid_window),
        internal_verifier=AssertionVerifier(settings.identity_assertion_public_jwks, INTERNAL_AUDIENCE),
        pool=pool,
        cursors=CursorCodec(settings.cursor_secret, "identity"),
    )


def runtime_lifespan(settings: IdentitySettings) -> Any:
    """Builds the Runtime after the event lifespan has put the pool on app.state."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_host, settings.redis_port, settings.redis_password)
        runtime = build_runtime(settings, redis, app.state.pool)
        app.state.runtime = runtime

        async def redis_ready() -> None:
            await redis.ping()

        add_readiness_check(app, "redis", redis_ready)
        try:
            yield
        finally:
            await redis.aclose()

    return lifespan


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


RUNTIME_DEPENDENCY = {"runtime": Provide(provide_runtime, sync_to_thread=False)}
# Handlers declare `runtime: RuntimeDep`.
RuntimeDep = NamedDependency[Runtime]
