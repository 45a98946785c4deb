"""Events the identity service publishes: accounts, sign-ins, sessions, MFA, linked accounts, roles.

None of them carries a secret: no password, code, token, session token or TOTP secret, ever.
The envelope already records the actor, the outcome, the client IP, the user agent and the request id.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from portal_contracts.base import EventData, event

Role = Literal["owner", "admin", "member"]
UserId = Annotated[str, msgspec.Meta(description="id of the user (UUIDv7)")]
TenantId = Annotated[str, msgspec.Meta(description="id of the tenant (UUIDv7)")]
LoginMethod = Annotated[
    str, msgspec.Meta(description="how the user signed in: `password`, or `oauth:<provider>` (e.g. `oauth:github`)")
]


@event("portal.identity.user.created.v1", description="A user account was created (sign-up, invitation or OAuth).")
class UserCreated(EventData, kw_only=True, frozen=True):
    user_id: UserId
    tenant_id: TenantId
    email: Annotated[str, msgspec.Meta(description="normalised email address")]
    role: Annotated[Role, msgspec.Meta(description="role in the tenant the account was created in")]
    method: Annotated[str, msgspec.Meta(description="`signup`, `invitation` or `oauth:<provider>`")]


@event("portal.identity.login.succeeded.v1", description="A user signed in and a session was issued.")
class LoginSucceeded(EventData, kw_only=True, frozen=True):
    user_id: UserId
    tenant_id: TenantId
    session_id: Annotated[str, msgspec.Meta(description="id of the new session (never its token)")]
    method: LoginMethod
    mfa: Annotated[bool, msgspec.Meta(description="whether a second factor was passed")]


@event(
    "portal.identity.login.failed.v1",
    description="A sign-in attempt was refused. The envelope outcome is `failure`; its actor is the account if known.",
)
class LoginFailed(EventData, kw_only=True, frozen=True):
    reason: Annotated[
        str,
        msgspec.Meta(
            description="`invalid_credentials`, `invalid_mfa_code`, `rate_limited` or `oauth_error` (never the input)"
        ),
    ]
    method: LoginMethod
    user_id: Annotated[str | None, msgspec.Meta(description="the account the attempt named, when it exists")] = None


@event("portal.identity.session.revoked.v1", description="A session was ended before it expired.")
class SessionRevoked(EventData, kw_only=True, frozen=True):
    session_id: Annotated[str, msgspec.Meta(description="id of the session (never its token)")]
    user_id: UserId
    reason: Annotated[
        str, msgspec.Meta(description="`logout`, `revoked`, `password_changed`, `mfa_changed` or `member_removed`")
    ]


@event("portal.identity.mfa.enabled.v1", description="A user confirmed TOTP enrolment; MFA is now required.")
class MfaEnabled(EventData, kw_only=True, frozen=True):
    user_id: UserId
    method: Annotated[str, msgspec.Meta(description="second factor kind; `totp` today")] = "totp"


@event("portal.identity.mfa.disabled.v1", description="A user turned TOTP MFA off (with a valid code).")
class MfaDisabled(EventData, kw_only=True, frozen=True):
    user_id: UserId
    method: Annotated[str, msgspec.Meta(description="second factor kind; `totp` today")] = "totp"


@event("portal.identity.oauth_account.linked.v1", description="An external OAuth/OIDC account was linked to a user.")
class OAuthAccountLinked(EventData, kw_only=True, frozen=True):
    user_id: UserId
    provider: Annotated[str, msgspec.Meta(description="`github`, `google`, `microsoft` or `apple`")]
    account_id: Annotated[str, msgspec.Meta(description="id of the link record in identity (not the provider's)")]


@event("portal.identity.oauth_account.unlinked.v1", description="A linked OAuth/OIDC account was removed from a user.")
class OAuthAccountUnlinked(EventData, kw_only=True, frozen=True):
    user_id: UserId
    provider: Annotated[str, msgspec.Meta(description="`github`, `google`, `microsoft` or `apple`")]
    account_id: Annotated[str, msgspec.Meta(description="id of the link record in identity (not the provider's)")]


@event("portal.identity.membership.role_changed.v1", description="A member's role in a tenant changed.")
class RoleChanged(EventData, kw_only=True, frozen=True):
    user_id: UserId
    tenant_id: TenantId
    old_role: Role
    new_role: Role


@event("portal.identity.membership.removed.v1", description="A member was removed from a tenant.")
class MemberRemoved(EventData, kw_only=True, frozen=True):
    user_id: UserId
    tenant_id: TenantId
    role: Annotated[Role, msgspec.Meta(description="the role the member had")]


@event("portal.identity.invitation.created.v1", description="An admin invited an email address to a tenant.")
class InvitationCreated(EventData, kw_only=True, frozen=True):
    invitation_id: Annotated[str, msgspec.Meta(description="id of the invitation (never its token)")]
    tenant_id: TenantId
    email: Annotated[str, msgspec.Meta(description="normalised email address invited")]
    role: Role


@event("portal.identity.invitation.accepted.v1", description="An invitation was used: its user joined the tenant.")
class InvitationAccepted(EventData, kw_only=True, frozen=True):
    invitation_id: Annotated[str, msgspec.Meta(description="id of the invitation (never its token)")]
    tenant_id: TenantId
    user_id: UserId
    role: Role


@event("portal.identity.user.password_changed.v1", description="A user changed their password; other sessions ended.")
class PasswordChanged(EventData, kw_only=True, frozen=True):
    user_id: UserId
