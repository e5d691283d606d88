"""The payment and refund state machines as explicit tables; an illegal transition raises.

    pending ──► processing ──► succeeded ──► partially_refunded ──► refunded
       │            │              └──────────────────────────────────▲
       └────────────┴──► failed

`processing` means a provider call may be under way or its outcome unknown; only the provider's
answer (or reconciliation against its records) moves it on.
"""

from __future__ import annotations

from enum import StrEnum

from seawall.errors import ConflictError


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


class IllegalTransitionError(ConflictError):
    error_type = "illegal_transition"


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


def check_payment_transition(current: str, target: PaymentStatus) -> PaymentStatus:
    source = PaymentStatus(current)
    if target not in PAYMENT_TRANSITIONS[source]:
        raise IllegalTransitionError(f"a payment cannot go from {source} to {target}")
    return target


def check_refund_transition(current: str, target: RefundStatus) -> RefundStatus:
    source = RefundStatus(current)
    if target not in REFUND_TRANSITIONS[source]:
        raise IllegalTransitionError(f"a refund cannot go from {source} to {target}")
    return target
