"""The payment and refund state machines are explicit tables (STYLE habit 6): every transition the
table allows is accepted, every other one — including staying put where that is not allowed, and
leaving a terminal state — raises `IllegalTransitionError`."""

from __future__ import annotations

from itertools import product

import pytest

from seawall.errors import ConflictError, IllegalTransitionError
from seawall.payments.state import (
    CAPTURED_STATUSES,
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    SETTLED_STATUSES,
    PaymentStatus,
    RefundStatus,
    check_payment_transition,
    check_refund_transition,
)

P = PaymentStatus
R = RefundStatus

# The diagram in `seawall.payments.state`, written out again: a change to the table must be deliberate.
ALLOWED_PAYMENT = {
    (P.PENDING, P.PROCESSING), (P.PENDING, P.FAILED),
    (P.PROCESSING, P.SUCCEEDED), (P.PROCESSING, P.FAILED),
    (P.SUCCEEDED, P.PARTIALLY_REFUNDED), (P.SUCCEEDED, P.REFUNDED),
    (P.PARTIALLY_REFUNDED, P.PARTIALLY_REFUNDED), (P.PARTIALLY_REFUNDED, P.REFUNDED),
}
ALLOWED_REFUND = {(R.PENDING, R.SUCCEEDED), (R.PENDING, R.FAILED)}

ILLEGAL_PAYMENT = sorted(set(product(P, P)) - ALLOWED_PAYMENT)
ILLEGAL_REFUND = sorted(set(product(R, R)) - ALLOWED_REFUND)


def test_the_tables_are_the_documented_ones() -> None:
    assert {(s, t) for s, targets in PAYMENT_TRANSITIONS.items() for t in targets} == ALLOWED_PAYMENT
    assert {(s, t) for s, targets in REFUND_TRANSITIONS.items() for t in targets} == ALLOWED_REFUND
    assert set(PAYMENT_TRANSITIONS) == set(P) and set(REFUND_TRANSITIONS) == set(R)


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED_PAYMENT))
def test_allowed_payment_transitions_pass(source: PaymentStatus, target: PaymentStatus) -> None:
    assert check_payment_transition(source.value, target) is target


@pytest.mark.parametrize(("source", "target"), ILLEGAL_PAYMENT)
def test_every_other_payment_transition_raises(source: PaymentStatus, target: PaymentStatus) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        check_payment_transition(source.value, target)
    assert source.value in raised.value.message and target.value in raised.value.message


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED_REFUND))
def test_allowed_refund_transitions_pass(source: RefundStatus, target: RefundStatus) -> None:
    assert check_refund_transition(source.value, target) is target


@pytest.mark.parametrize(("source", "target"), ILLEGAL_REFUND)
def test_every_other_refund_transition_raises(source: RefundStatus, target: RefundStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        check_refund_transition(source.value, target)


def test_a_charge_can_never_skip_processing_nor_come_back_from_failed() -> None:
    with pytest.raises(IllegalTransitionError):
        check_payment_transition("pending", P.SUCCEEDED)
    for target in P:
        with pytest.raises(IllegalTransitionError):
            check_payment_transition("failed", target)
        with pytest.raises(IllegalTransitionError):
            check_payment_transition("refunded", target)


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        check_payment_transition("chargeback", P.REFUNDED)
    with pytest.raises(ValueError):
        check_refund_transition("reversed", R.FAILED)


def test_illegal_transitions_are_conflicts_in_the_error_tree() -> None:
    assert issubclass(IllegalTransitionError, ConflictError)
    assert IllegalTransitionError("x").status_code == 409


def test_settled_and_captured_statuses() -> None:
    assert CAPTURED_STATUSES == {P.SUCCEEDED, P.PARTIALLY_REFUNDED, P.REFUNDED}
    assert SETTLED_STATUSES == CAPTURED_STATUSES | {P.FAILED}
    # a settled payment only moves on by refunds, never back to the charging states
    for status in SETTLED_STATUSES:
        assert not PAYMENT_TRANSITIONS[status] & {P.PENDING, P.PROCESSING, P.FAILED}
