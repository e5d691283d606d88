"""Accounts errors (see the tree in `seawall.errors`)."""

from __future__ import annotations

from seawall.errors import BadRequestError, ConflictError, ForbiddenError, UnauthorizedError, UnprocessableError


class EmailTakenError(ConflictError):
    error_type = "email_taken"


class InvalidCredentialsError(UnauthorizedError):
    error_type = "invalid_credentials"


class InvalidSessionError(UnauthorizedError):
    error_type = "invalid_session"


class InvalidResetTokenError(BadRequestError):
    error_type = "invalid_reset_token"


class PlanPaymentNotDueError(UnprocessableError):
    error_type = "plan_payment_not_due"


class InvalidCurrentPasswordError(ForbiddenError):
    """A password change whose `current_password` is not the account's (403, not 401: the bearer
    token itself is fine, and a client must not take this for a logout)."""

    error_type = "invalid_current_password"


class SeawallSessionRequiredError(ForbiddenError):
    """A route that acts on the caller's Seawall session (log-out, password change) called with a
    legacy session cookie (`seawall.legacy.introspection`): the caller is known, but has no Seawall
    session to act on (403, not 401: a client must not take it for a logout and loop)."""

    error_type = "seawall_session_required"
