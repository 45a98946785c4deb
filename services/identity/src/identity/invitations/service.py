"""Inviting an email to a tenant and accepting the invitation (single use, expiring)."""

from __future__ import annotations

from uuid import UUID

from portal_contracts.identity import InvitationAccepted, InvitationCreated
from portal_core.assertion import Identity
from portal_core.errors import FieldError, Unauthorized, ValidationFailed
from portal_core.ids import new_id
from portal_db import Connection
from portal_events import publish

from identity.errors import InvalidInvitation, NotAllowed
from identity.invitations.repository import InvitationRepository, InvitationRow
from identity.memberships.repository import MembershipRepository, Role
from identity.memberships.service import MANAGERS, require_role
from identity.runtime import Runtime
from identity.security.passwords import check_password_policy
from identity.security.tokens import new_token, token_hash
from identity.sessions.service import LoginOutcome, sign_in
from identity.settings import SCHEMA
from identity.users.repository import UserRepository
from identity.users.service import create_user, normalise_email


async def invite(
    runtime: Runtime,
    conn: Connection,
    tenant_id: UUID,
    actor_id: UUID,
    email: str,
    role: Role,
    idempotency_key: str | None,
) -> tuple[InvitationRow, str]:
    """(the invitation, its token). Admins invite members and admins; only owners invite owners."""
    actor_role = await require_role(conn, tenant_id, actor_id, MANAGERS)
    if role == "owner" and actor_role != "owner":
        raise NotAllowed("Only an owner can invite an owner")
    token = new_token()
    invitation, created = await InvitationRepository(conn).insert(
        new_id(),
        tenant_id,
        normalise_email(email),
        role,
        token_hash(token),
        actor_id,
        idempotency_key,
        runtime.settings.invitation_ttl_seconds,
    )
    if created:
        await publish(
            conn,
            InvitationCreated(
                invitation_id=str(invitation.id), tenant_id=str(tenant_id), email=invitation.email, role=role
            ),
            schema=SCHEMA,
            entity_id=invitation.id,
        )
    return invitation, token


async def accept(
    runtime: Runtime,
    conn: Connection,
    caller: Identity,
    token: str,
    password: str | None,
    display_name: str | None,
    password_hash: str | None,
) -> LoginOutcome:
    """Join the invited tenant: a new account (with `password_hash`), or the signed-in invited account."""
    invitations = InvitationRepository(conn)
    invitation = await invitations.usable_by_token(token_hash(token))
    if invitation is None:
        raise InvalidInvitation()
    existing = await UserRepository(conn).by_email(invitation.email)
    if existing is not None:
        if caller.user_id != str(existing.id):
            raise Unauthorized("Sign in as the invited account to accept", code="sign_in_to_accept")
        user_id = existing.id
        await MembershipRepository(conn).insert(invitation.tenant_id, user_id, invitation.role)
    else:
        if password is None or password_hash is None:
            raise ValidationFailed(
                "A password is needed for the new account", errors=[FieldError("password", "required")]
            )
        user = await create_user(
            conn,
            email=invitation.email,
            password_hash=password_hash,
            tenant_id=invitation.tenant_id,
            role=invitation.role,
            method="invitation",
            display_name=display_name,
        )
        user_id = user.id
    if not await invitations.mark_accepted(invitation.id, user_id):
        raise InvalidInvitation()
    await publish(
        conn,
        InvitationAccepted(
            invitation_id=str(invitation.id),
            tenant_id=str(invitation.tenant_id),
            user_id=str(user_id),
            role=invitation.role,
        ),
        schema=SCHEMA,
        tenant_id=invitation.tenant_id,
        actor_id=user_id,
        entity_id=invitation.id,
    )
    return await sign_in(
        runtime, conn, user_id, method="password", tenant_id=invitation.tenant_id, mfa_passed=caller.mfa
    )


async def prepare_password(runtime: Runtime, conn: Connection, token: str, password: str | None) -> str | None:
    """Check the policy and hash the new account's password before the accepting transaction (argon2 is slow)."""
    if password is None:
        return None
    invitation = await InvitationRepository(conn).usable_by_token(token_hash(token))
    if invitation is None:
        raise InvalidInvitation()
    check_password_policy(password, invitation.email, runtime.settings.password_min_length)
    return await runtime.passwords.hash(password)
