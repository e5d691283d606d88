"""The user status machine as an explicit table; an illegal transition raises `IllegalTransitionError`
(409 `illegal_transition`).

    (free sign-up) ──────────────────────────────► active
    (paid sign-up) ──► pending_payment ──────────► active          (the sign-up charge succeeded)
                          │     ▲
                          ▼     │ (pay again)
                       payment_failed                              (the sign-up charge failed)

`active` is terminal here: nothing moves an active user back.
"""

from __future__ import annotations

from seawall.accounts.models import UserStatus
from seawall.errors import IllegalTransitionError
from seawall.kit.transitions import Transitions

USER_TRANSITIONS: dict[UserStatus, frozenset[UserStatus]] = {
    UserStatus.PENDING_PAYMENT: frozenset({UserStatus.ACTIVE, UserStatus.PAYMENT_FAILED}),
    UserStatus.PAYMENT_FAILED: frozenset({UserStatus.PENDING_PAYMENT}),
    UserStatus.ACTIVE: frozenset(),
}

USERS = Transitions("a user", UserStatus, USER_TRANSITIONS, error=IllegalTransitionError)

check_user_transition = USERS.check
"""`target` when a user may go from `current` to it; `IllegalTransitionError` (409) otherwise."""
