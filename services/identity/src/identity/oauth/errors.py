"""What can go wrong in an OAuth sign-in or link, as problem+json (never a 500 for a provider's answer)."""

from __future__ import annotations

from portal_core.errors import BadGateway, BadRequest, Conflict, NotFound, PortalError


class ProviderNotEnabled(NotFound):
    code, title = "oauth_provider_not_enabled", "This sign-in provider is not enabled"


class InvalidOAuthState(BadRequest):
    code, title = "oauth_invalid_state", "This sign-in attempt is unknown, expired or already used"


class OAuthDenied(BadRequest):
    code, title = "oauth_denied", "The sign-in provider did not authorize the sign-in"


class InvalidIdToken(PortalError):
    status, code, title = 401, "oauth_invalid_id_token", "The sign-in provider's identity token was refused"


class ProviderUnavailable(BadGateway):
    code, title = "oauth_provider_unavailable", "The sign-in provider could not be reached or answered wrongly"


class EmailNotVerified(PortalError):
    status, code, title = 403, "oauth_email_not_verified", "The provider has not verified this account's email"


class AccountExists(Conflict):
    """A new OAuth sign-in whose email belongs to an existing account: never merged silently (takeover)."""

    code, title = "oauth_account_exists", "An account with this email already exists"

    def __init__(self, detail: str, *, user_id: str) -> None:
        super().__init__(detail)
        self.user_id = user_id  # for the LoginFailed event (an alert for the owner), never shown to the caller


class AlreadyLinked(Conflict):
    code, title = "oauth_already_linked", "This provider account is already linked"


class LastSignInMethod(Conflict):
    code, title = "last_sign_in_method", "This is the account's last way to sign in"


class LinkedAccountNotFound(NotFound):
    code, title = "linked_account_not_found", "No such linked account"
