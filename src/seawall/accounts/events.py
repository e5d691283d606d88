"""What the accounts domain announces, inside the transaction that made the change."""

from __future__ import annotations

from dataclasses import dataclass

from seawall.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class UserActivated(DomainEvent):
    """The account became `active`: at a free sign-up, or when its plan payment succeeded.
    `plan` is the plan code, None for a free account."""

    user_id: str
    plan: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordResetIssued(DomainEvent):
    """A reset was recorded for an existing account. The token is not in the event: it is derived
    again (`accounts.service.password_reset_message_data`) by whoever sends it, so it never sits in
    the database."""

    user_id: str
    reset_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordChanged(DomainEvent):
    """The account's password was changed: `how` is "change" (by the signed-in user, who keeps the
    session it used; every other session is revoked) or "reset" (with a mailed token; every session
    is revoked). For a "your password was changed" notice."""

    user_id: str
    how: str
