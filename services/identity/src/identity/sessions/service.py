"""Signing a user in (honouring MFA), issuing and revoking sessions, with their events.

`sign_in` is what every login path ends with (password, OAuth callback, invitation): it issues a session,
or, when the user has MFA on and has not passed it in this flow, an MFA challenge instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from portal_contracts.identity import LoginSucceeded, SessionRevoked
from portal_core.request_context import current_request
from portal_db import Connection
from portal_events import publish

from identity.auth.challenges import MfaChallenge
from identity.errors import InvalidCredentials
from identity.memberships.repository import MembershipRepository
from identity.mfa.repository import MfaRepository
from identity.runtime import Runtime
from identity.sessions.store import IssuedSession
from identity.settings import SCHEMA


@dataclass(frozen=True)
class LoginOutcome:
    """Exactly one is set: the new session, or the MFA challenge to answer first."""

    session: IssuedSession | None = None
    challenge: MfaChallenge | None = None


async def sign_in(
    runtime: Runtime,
    conn: Connection,
    user_id: UUID,
    *,
    method: str,
    tenant_id: UUID | None = None,
    mfa_passed: bool = False,
) -> LoginOutcome:
    """Sign `user_id` in to `tenant_id` (default: the tenant they joined first).

    With MFA enrolled and not `mfa_passed`, no session is issued: the caller returns the challenge.
    Raises InvalidCredentials when the user is not a member of the tenant (or of any).
    """
    memberships = MembershipRepository(conn)
    if tenant_id is None or await memberships.role_of(tenant_id, user_id) is None:
        tenant_id = await memberships.first_tenant_of(user_id) if tenant_id is None else None
    if tenant_id is None:
        raise InvalidCredentials()
    if not mfa_passed and await MfaRepository(conn).is_enabled(user_id):
        challenge = await runtime.challenges.create(str(user_id), str(tenant_id), method)
        return LoginOutcome(challenge=challenge)
    return LoginOutcome(session=await issue_session(runtime, conn, user_id, tenant_id, method=method, mfa=mfa_passed))


async def issue_session(
    runtime: Runtime, conn: Connection, user_id: UUID, tenant_id: UUID, *, method: str, mfa: bool
) -> IssuedSession:
    """A new session in Redis and its LoginSucceeded event in the caller's transaction."""
    request = current_request()
    issued = await runtime.sessions.create(
        user_id,
        tenant_id,
        mfa=mfa,
        method=method,
        client_ip=request.client_ip if request else None,
        user_agent=request.user_agent if request else None,
    )
    await publish(
        conn,
        LoginSucceeded(
            user_id=str(user_id), tenant_id=str(tenant_id), session_id=issued.record.id, method=method, mfa=mfa
        ),
        schema=SCHEMA,
        tenant_id=tenant_id,
        actor_id=user_id,
        entity_id=user_id,
    )
    return issued


async def revoke_session(runtime: Runtime, conn: Connection, user_id: UUID, session_id: str, reason: str) -> bool:
    """End one session of the user; False when they have no such live session."""
    if not await runtime.sessions.revoke(user_id, session_id):
        return False
    await publish(
        conn,
        SessionRevoked(session_id=session_id, user_id=str(user_id), reason=reason),
        schema=SCHEMA,
        entity_id=user_id,
    )
    return True


async def revoke_other_sessions(
    runtime: Runtime,
    conn: Connection,
    user_id: UUID,
    *,
    keep_session_id: str | None,
    reason: str,
    tenant_id: str | None = None,
) -> list[str]:
    """End every session of the user but `keep_session_id` (optionally only those in `tenant_id`)."""
    ended = await runtime.sessions.revoke_all(user_id, except_session_id=keep_session_id, tenant_id=tenant_id)
    for session_id in ended:
        await publish(
            conn,
            SessionRevoked(session_id=session_id, user_id=str(user_id), reason=reason),
            schema=SCHEMA,
            entity_id=user_id,
        )
    return ended
