"""The identity service's composition root: settings, telemetry, pool + NATS + outbox relay, Redis runtime."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from litestar import Litestar
from portal_core.assertion import AssertionVerifier
from portal_core.http import create_app
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_events import DEFAULT_TOPOLOGY, Topology, event_service_lifespan

from identity.auth.endpoints import ROUTE_HANDLERS as AUTH
from identity.internal.endpoints import ROUTE_HANDLERS as INTERNAL
from identity.invitations.endpoints import ROUTE_HANDLERS as INVITATIONS
from identity.memberships.endpoints import ROUTE_HANDLERS as MEMBERS
from identity.mfa.endpoints import ROUTE_HANDLERS as MFA
from identity.runtime import RUNTIME_DEPENDENCY, runtime_lifespan
from identity.sessions.endpoints import ROUTE_HANDLERS as SESSIONS
from identity.settings import SCHEMA, SERVICE, IdentitySettings
from identity.users.endpoints import ROUTE_HANDLERS as USERS

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """Tenants, users, memberships and roles, invitations, password and OAuth sign-in,
sessions (HttpOnly cookie for browsers, bearer token for other clients), TOTP MFA.

Cookie-authenticated unsafe requests (POST, PUT, PATCH, DELETE) must send `X-CSRF-Token` with the value
of the `portal_csrf` cookie (the gateway checks it against the session)."""


def _oauth_module(name: str) -> Any:
    """identity.oauth.<name>, or None when the OAuth package is not part of this build."""
    try:
        return importlib.import_module(f"identity.oauth.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("identity.oauth", f"identity.oauth.{name}"):
            raise
        return None


def oauth_handlers() -> list[Any]:
    """The OAuth routes (identity/oauth), when that package is present."""
    module = _oauth_module("endpoints")
    return list(getattr(module, "ROUTE_HANDLERS", [])) if module else []


def oauth_lifespans() -> list[Any]:
    """The OAuth lifespan (providers' HTTP clients), after the runtime lifespan it reads."""
    module = _oauth_module("runtime")
    lifespan = getattr(module, "oauth_lifespan", None) if module else None
    return [lifespan] if lifespan is not None else []


def build_app(settings: IdentitySettings, topology: Topology = DEFAULT_TOPOLOGY) -> Litestar:
    return create_app(
        service=SERVICE,
        route_handlers=[*AUTH, *SESSIONS, *USERS, *MFA, *MEMBERS, *INVITATIONS, *INTERNAL, *oauth_handlers()],
        lifespan=[
            event_service_lifespan(service=SERVICE, schema=SCHEMA, settings=settings, topology=topology),
            runtime_lifespan(settings),
            *oauth_lifespans(),
        ],
        verifier=AssertionVerifier(settings.identity_assertion_public_jwks, SERVICE),
        dependencies=dict(RUNTIME_DEPENDENCY),
        description=DESCRIPTION,
        request_max_body_size=64 * 1024,
    )


def create() -> Litestar:
    settings = load_settings(IdentitySettings)
    setup_telemetry(SERVICE, settings)
    return build_app(settings)
