"""The notification status machine as an explicit table; an illegal transition raises
`IllegalTransitionError` (409 `illegal_transition`; it only happens inside jobs).

    pending ──► sent        (the channel accepted it)
       └──────► failed      (the channel refused it for good, or cannot reach the user)

Both outcomes are final: a notification is sent at most once per event and channel.
"""

from __future__ import annotations

from seawall.errors import IllegalTransitionError
from seawall.kit.transitions import Transitions
from seawall.notifications.models import NotificationStatus

NOTIFICATION_TRANSITIONS: dict[NotificationStatus, frozenset[NotificationStatus]] = {
    NotificationStatus.PENDING: frozenset({NotificationStatus.SENT, NotificationStatus.FAILED}),
    NotificationStatus.SENT: frozenset(),
    NotificationStatus.FAILED: frozenset(),
}

NOTIFICATIONS = Transitions("a notification", NotificationStatus, NOTIFICATION_TRANSITIONS,
                            error=IllegalTransitionError)

check_notification_transition = NOTIFICATIONS.check
"""`target` when a notification may go from `current` to it; `IllegalTransitionError` (409) otherwise."""
