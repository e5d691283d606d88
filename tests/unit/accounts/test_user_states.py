"""The user status machine is an explicit table (STYLE habit 6): a paid sign-up moves from
`pending_payment` to `active` or `payment_failed` and may pay again; an active user never moves back."""

from __future__ import annotations

from itertools import product

import pytest

from seawall.accounts.models import UserStatus as U
from seawall.accounts.state import USER_TRANSITIONS, check_user_transition
from seawall.errors import IllegalTransitionError

ALLOWED = {(U.PENDING_PAYMENT, U.ACTIVE), (U.PENDING_PAYMENT, U.PAYMENT_FAILED), (U.PAYMENT_FAILED, U.PENDING_PAYMENT)}


def test_the_table_is_the_documented_one() -> None:
    assert {(s, t) for s, targets in USER_TRANSITIONS.items() for t in targets} == ALLOWED


@pytest.mark.parametrize(("source", "target"), sorted(set(product(U, U)) - ALLOWED))
def test_every_other_move_is_a_409(source: U, target: U) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        check_user_transition(source.value, target)
    assert raised.value.status_code == 409
