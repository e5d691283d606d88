"""The notification status machine is an explicit table (STYLE habit 6): `pending` ends as `sent`
or `failed`, and neither moves again."""

from __future__ import annotations

from itertools import product

import pytest

from seawall.errors import IllegalTransitionError
from seawall.notifications.models import NotificationStatus as N
from seawall.notifications.state import NOTIFICATION_TRANSITIONS, check_notification_transition

ALLOWED = {(N.PENDING, N.SENT), (N.PENDING, N.FAILED)}


def test_the_table_is_the_documented_one() -> None:
    assert {(s, t) for s, targets in NOTIFICATION_TRANSITIONS.items() for t in targets} == ALLOWED


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED))
def test_a_pending_notification_ends_sent_or_failed(source: N, target: N) -> None:
    assert check_notification_transition(source.value, target) is target


@pytest.mark.parametrize(("source", "target"), sorted(set(product(N, N)) - ALLOWED))
def test_every_other_move_raises(source: N, target: N) -> None:
    with pytest.raises(IllegalTransitionError):
        check_notification_transition(source.value, target)
