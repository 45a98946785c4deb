"""OAuth rules: who a callback signs in, when an external account may be linked or unlinked.

Never merge by email: a new external account whose email already has an account is refused (the owner
signs in and links it from a session); linking needs a signed-in user who started the flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from portal_contracts.identity import OAuthAccountLinked, OAuthAccountUnlinked
from portal_core.ids import new_id
from portal_db import Connection
from portal_events import publish

from identity.oauth.errors import (
    AccountExists,
    AlreadyLinked,
    EmailNotVerified,
    InvalidOAuthState,
    LastSignInMethod,
    LinkedAccountNotFound,
)
from identity.oauth.flows import Flow
from identity.oauth.providers import ExternalIdentity
from identity.oauth.repository import LinkedAccountRepository, LinkedAccountRow
from identity.runtime import Runtime
from identity.sessions.service import LoginOutcome, sign_in
from identity.settings import SCHEMA
from identity.users.service import create_user_with_tenant, find_user_by_email, get_user

PROVIDER_TITLES = {"github": "GitHub", "google": "Google", "microsoft": "Microsoft", "apple": "Apple"}


def login_method(provider: str) -> str:
    return f"oauth:{provider}"


async def sign_in_with(runtime: Runtime, conn: Connection, external: ExternalIdentity) -> LoginOutcome:
    """The session (or MFA challenge) for the account linked to `external`, creating the account if it is new."""
    links = LinkedAccountRepository(conn)
    method = login_method(external.provider)
    link = await links.by_subject(external.provider, external.subject)
    if link is not None:
        await links.touch(link.id)
        return await sign_in(runtime, conn, link.user_id, method=method)
    if not external.email or not external.email_verified:
        raise EmailNotVerified(
            f"{PROVIDER_TITLES[external.provider]} did not confirm a verified email for this account; "
            "verify it there, or sign up with a password"
        )
    existing = await find_user_by_email(conn, external.email)
    if existing is not None:
        title = PROVIDER_TITLES[external.provider]
        raise AccountExists(
            f"An account with this email already exists. Sign in to it the way you usually do, then link "
            f"{title} from your account settings; it is not linked automatically.",
            user_id=str(existing.id),
        )
    user, tenant_id = await create_user_with_tenant(
        conn, email=external.email, password_hash=None, method=method, display_name=external.display_name
    )
    await _link(conn, user.id, external, tenant_id)
    return await sign_in(runtime, conn, user.id, method=method)


@dataclass(frozen=True)
class LinkResult:
    link: LinkedAccountRow
    created: bool


async def link_to_signed_in_user(
    runtime: Runtime, conn: Connection, flow: Flow, external: ExternalIdentity
) -> LinkResult:
    """Link `external` to the user who started `flow`, while the session that started it is still alive."""
    assert flow.user_id is not None
    assert flow.session_id is not None
    user_id = UUID(flow.user_id)
    live = {record.id for record in await runtime.sessions.list_for_user(user_id)}
    if flow.session_id not in live or await get_user(conn, user_id) is None:
        raise InvalidOAuthState("The session that asked for this link has ended; sign in and try again")
    existing = await LinkedAccountRepository(conn).by_subject(external.provider, external.subject)
    if existing is not None:
        if existing.user_id != user_id:
            raise AlreadyLinked("This provider account is linked to another account; unlink it there first")
        return LinkResult(existing, created=False)
    return LinkResult(await _link(conn, user_id, external, flow.tenant_id), created=True)


async def _link(
    conn: Connection, user_id: UUID, external: ExternalIdentity, tenant_id: UUID | str | None
) -> LinkedAccountRow:
    link = await LinkedAccountRepository(conn).insert(
        new_id(), user_id, external.provider, external.subject, external.email, external.display_name
    )
    await publish(
        conn,
        OAuthAccountLinked(user_id=str(user_id), provider=external.provider, account_id=str(link.id)),
        schema=SCHEMA,
        tenant_id=tenant_id,  # the callback is anonymous: the request context knows no tenant
        entity_id=user_id,
        actor_id=user_id,
    )
    return link


async def unlink(conn: Connection, user_id: UUID, link_id: UUID) -> None:
    """Remove one of the user's links, unless it is their last way to sign in (no password, one link)."""
    links = await LinkedAccountRepository(conn).lock_for_user(user_id)
    target = next((link for link in links if link.id == link_id), None)
    if target is None:
        raise LinkedAccountNotFound()
    user = await get_user(conn, user_id)
    has_password = user is not None and user.password_hash is not None
    if not has_password and len(links) == 1:
        raise LastSignInMethod(
            "Set a password or link another provider first: without this one the account could not sign in"
        )
    await LinkedAccountRepository(conn).delete(target.id)
    await publish(
        conn,
        OAuthAccountUnlinked(user_id=str(user_id), provider=target.provider, account_id=str(target.id)),
        schema=SCHEMA,
        entity_id=user_id,
        actor_id=user_id,
    )
