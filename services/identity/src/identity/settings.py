"""The identity service's settings: session lifetimes, cookies, argon2id cost, abuse limits, TOTP keys."""

from __future__ import annotations

from typing import ClassVar

from portal_core.settings import Secret, ServiceSettings

SERVICE = "identity"
SCHEMA = "identity"
# The audience of the assertion the gateway signs to call identity's internal routes (session resolution).
INTERNAL_AUDIENCE = "identity-internal"
# Development only: production refuses to start until TOTP_ENCRYPTION_KEYS is set (it is a Secret).
_DEV_TOTP_KEY = "ZGV2LW9ubHktdG90cC1rZXktZG8tbm90LXVzZS0xMjM="


class IdentitySettings(ServiceSettings, kw_only=True, frozen=True):
    """Every field comes from the upper-cased env var (`SESSION_IDLE_SECONDS`, ...)."""

    required_in_production: ClassVar[tuple[str, ...]] = ServiceSettings.required_in_production

    redis_key_prefix: str = "portal:identity:"

    # Sessions: sliding (idle) and absolute expiry; the cookie is HttpOnly, Secure, SameSite=Lax.
    session_idle_seconds: int = 24 * 3600
    session_absolute_seconds: int = 14 * 24 * 3600
    session_cookie_name: str = "portal_session"
    csrf_cookie_name: str = "portal_csrf"
    cookie_domain: str | None = None
    # Browsers refuse Secure cookies on plain http except on localhost; never turn this off in production.
    cookie_secure: bool = True

    # argon2id, OWASP's minimum: m=19 MiB, t=2, p=1.
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    password_min_length: int = 12

    # Abuse limits (Redis counters): failed logins per account and per client IP within a window.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 50
    login_failure_window_seconds: int = 15 * 60
    login_lockout_seconds: int = 15 * 60
    signup_max_per_ip: int = 20  # per login_failure_window_seconds

    # TOTP: comma-separated Fernet keys; the first encrypts, all decrypt (list the old one after the new to rotate).
    totp_encryption_keys: Secret = Secret(_DEV_TOTP_KEY)
    totp_issuer: str = "Parametric Portal"
    totp_valid_window: int = 1  # steps either side of now that are accepted (clock drift)
    mfa_challenge_seconds: int = 300
    mfa_max_attempts: int = 5  # per user within mfa_challenge_seconds, across challenges

    invitation_ttl_seconds: int = 7 * 24 * 3600

    # --- OAuth (owned by identity/oauth): add OAuth fields below this line ---
    # The public origin browsers reach the gateway at: callbacks are <this>/api/oauth/<provider>/callback.
    oauth_redirect_base_url: str = "http://127.0.0.1:4000"
    oauth_flow_ttl_seconds: int = 600  # how long a started sign-in (state, nonce, PKCE verifier) stays usable
    # A provider is enabled only when its credentials are set; every endpoint can point elsewhere.
    oauth_github_client_id: str | None = None
    oauth_github_client_secret: Secret | None = None
    oauth_github_authorize_url: str = "https://github.com/login/oauth/authorize"
    oauth_github_token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 (a URL)
    oauth_github_api_url: str = "https://api.github.com"
    oauth_google_client_id: str | None = None
    oauth_google_client_secret: Secret | None = None
    oauth_google_issuer: str = "https://accounts.google.com"  # discovery: <issuer>/.well-known/openid-configuration
    oauth_google_authorize_url: str | None = None  # unset: from discovery (same for token, JWKS, userinfo)
    oauth_google_token_url: str | None = None
    oauth_google_jwks_url: str | None = None
    oauth_google_userinfo_url: str | None = None
    oauth_microsoft_client_id: str | None = None
    oauth_microsoft_client_secret: Secret | None = None
    oauth_microsoft_tenant_id: str | None = None  # the directory (tenant) GUID
    oauth_microsoft_issuer: str = "https://login.microsoftonline.com/{tenant_id}/v2.0"
    oauth_microsoft_authorize_url: str | None = None
    oauth_microsoft_token_url: str | None = None
    oauth_microsoft_jwks_url: str | None = None
    oauth_microsoft_userinfo_url: str | None = None
    oauth_apple_client_id: str | None = None  # the Services ID
    oauth_apple_team_id: str | None = None
    oauth_apple_key_id: str | None = None
    oauth_apple_private_key: Secret | None = None  # the .p8 file's PEM text (literal "\n" accepted for newlines)
    oauth_apple_issuer: str = "https://appleid.apple.com"
    oauth_apple_authorize_url: str | None = None
    oauth_apple_token_url: str | None = None
    oauth_apple_jwks_url: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "session_idle_seconds",
            "session_absolute_seconds",
            "argon2_time_cost",
            "argon2_parallelism",
            "login_max_failures_per_account",
            "login_max_failures_per_ip",
            "login_failure_window_seconds",
            "login_lockout_seconds",
            "mfa_challenge_seconds",
            "mfa_max_attempts",
            "invitation_ttl_seconds",
            "oauth_flow_ttl_seconds",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()} must be at least 1")
        if self.argon2_memory_kib < 19 * 1024 or self.argon2_time_cost < 2:
            raise ValueError("ARGON2_MEMORY_KIB >= 19456 and ARGON2_TIME_COST >= 2 (OWASP minimum for argon2id)")
        if self.password_min_length < 12:
            raise ValueError("PASSWORD_MIN_LENGTH must be at least 12")
        if self.session_idle_seconds > self.session_absolute_seconds:
            raise ValueError("SESSION_IDLE_SECONDS cannot exceed SESSION_ABSOLUTE_SECONDS")
        if self.environment == "production" and not self.cookie_secure:
            raise ValueError("COOKIE_SECURE cannot be false in production")
