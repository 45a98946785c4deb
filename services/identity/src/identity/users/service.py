"""Account rules: normalised unique emails, creating users (with or without a password) in a tenant.

Functions take the caller's connection: the handler owns the transaction, events go in with the change.
"""

from __future__ import annotations

import unicodedata
from uuid import UUID

from portal_contracts.identity import UserCreated
from portal_core.errors import FieldError, ValidationFailed
from portal_core.ids import new_id
from portal_db import Connection
from portal_events import publish

from identity.memberships.repository import MembershipRepository, Role
from identity.settings import SCHEMA
from identity.tenants.repository import TenantRepository
from identity.users.repository import UserRepository, UserRow

MAX_EMAIL_LENGTH = 254


def normalise_email(raw: str) -> str:
    """NFKC, trimmed, lower-cased; raises ValidationFailed for something that is not an address."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or len(email) > MAX_EMAIL_LENGTH
        or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in email)
    ):
        raise ValidationFailed("The email address is not valid", errors=[FieldError("email", "not an email address")])
    return email


async def find_user_by_email(conn: Connection, email: str) -> UserRow | None:
    """The account for `email` (normalised here), or None."""
    return await UserRepository(conn).by_email(normalise_email(email))


async def get_user(conn: Connection, user_id: UUID) -> UserRow | None:
    return await UserRepository(conn).by_id(user_id)


async def create_user(
    conn: Connection,
    *,
    email: str,
    password_hash: str | None,
    tenant_id: UUID,
    role: Role,
    method: str,
    display_name: str | None = None,
) -> UserRow:
    """A new account that is a member of `tenant_id`; publishes UserCreated. Raises EmailTaken."""
    user = await UserRepository(conn).insert(new_id(), normalise_email(email), password_hash, display_name)
    await MembershipRepository(conn).insert(tenant_id, user.id, role)
    await publish(
        conn,
        UserCreated(user_id=str(user.id), tenant_id=str(tenant_id), email=user.email, role=role, method=method),
        schema=SCHEMA,
        tenant_id=tenant_id,
        actor_id=user.id,
        entity_id=user.id,
    )
    return user


async def create_user_with_tenant(
    conn: Connection,
    *,
    email: str,
    password_hash: str | None,
    method: str,
    tenant_name: str | None = None,
    display_name: str | None = None,
) -> tuple[UserRow, UUID]:
    """A new tenant and its first user (role owner): (user, tenant_id). Raises EmailTaken."""
    tenant_id = new_id()
    normalised = normalise_email(email)
    await TenantRepository(conn).insert(tenant_id, tenant_name or f"{normalised.partition('@')[0]}'s workspace")
    user = await create_user(
        conn,
        email=normalised,
        password_hash=password_hash,
        tenant_id=tenant_id,
        role="owner",
        method=method,
        display_name=display_name,
    )
    return user, tenant_id
