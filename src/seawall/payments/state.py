"""The payment and refund state machines as explicit tables; an illegal transition raises.

    pending ──► processing ──► succeeded ──► partially_refunded ──► refunded
       │            │              └──────────────────────────────────▲
       └────────────┴──► failed

`processing` means a provider call may be under way or its outcome unknown; only the provider's
answer (or reconciliation against its records) moves it on.
"""

from __future__ import annotations

from enum import StrEnum

from seawall.errors import IllegalTransitionError
from seawall.kit.transitions import Transitions


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING, PaymentStatus.FAILED}),
    PaymentStatus.PROCESSING: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED}),
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.REFUNDED: frozenset(),
}

REFUND_TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    RefundStatus.PENDING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}

CAPTURED_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED})
SETTLED_STATUSES = frozenset({PaymentStatus.FAILED, *CAPTURED_STATUSES})


PAYMENTS = Transitions("a payment", PaymentStatus, PAYMENT_TRANSITIONS, error=IllegalTransitionError)
REFUNDS = Transitions("a refund", RefundStatus, REFUND_TRANSITIONS, error=IllegalTransitionError)

check_payment_transition = PAYMENTS.check
"""`target` when a payment may go from `current` to it; `IllegalTransitionError` (409) otherwise."""
check_refund_transition = REFUNDS.check
"""`target` when a refund may go from `current` to it; `IllegalTransitionError` (409) otherwise."""
