"""Identity's business errors; each renders as problem+json with a stable code."""

from __future__ import annotations

from portal_core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed


class InvalidCredentials(Unauthorized):
    # One error for unknown email, wrong password and password-less accounts: no enumeration.
    code, title = "invalid_credentials", "The email or password is not correct"


class InvalidMfaCode(Unauthorized):
    # Wrong, expired and replayed codes all read the same.
    code, title = "invalid_mfa_code", "The code is not valid"


class InvalidMfaChallenge(Unauthorized):
    code, title = "invalid_mfa_challenge", "The sign-in step has expired; sign in again"


class WeakPassword(ValidationFailed):
    code, title = "weak_password", "The password does not meet the policy"


class EmailTaken(Conflict):
    code, title = "email_taken", "An account with this email already exists"


class InvalidInvitation(NotFound):
    # Unknown, used, revoked and expired invitations read the same.
    code, title = "invalid_invitation", "This invitation is not valid"


class NotAllowed(Forbidden):
    code, title = "forbidden", "Your role does not allow this"


class MfaAlreadyEnabled(Conflict):
    code, title = "mfa_already_enabled", "Two-factor authentication is already on"


class MfaNotEnabled(Conflict):
    code, title = "mfa_not_enabled", "Two-factor authentication is not on"


class MfaNotEnrolling(Conflict):
    code, title = "mfa_not_enrolling", "Start the enrolment first"


class LastOwner(Conflict):
    code, title = "last_owner", "A tenant needs at least one owner"


class SessionInvalid(Unauthorized):
    code, title = "invalid_session", "The session is not valid"
