"""What the payments domain announces, inside the transaction that settled the payment.

Each event carries the payment as it stands after the change (amounts in the currency's minor
unit, e.g. cents; ISO 4217 currency code, lower case), so subscribers never read payments' tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentEvent(DomainEvent):
    payment_id: str
    user_id: str
    amount: int  # minor units
    currency: str
    description: str | None
    status: str  # `PaymentStatus` after the change
    amount_refunded: int  # minor units
    failure_code: str | None
    failure_message: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentSucceeded(PaymentEvent):
    """The provider captured the charge; the ledger holds it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentFailed(PaymentEvent):
    """The provider refused the charge for good (declined card, invalid request)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundIssued(PaymentEvent):
    """The provider refunded `refund_amount` of the payment; `amount_refunded` includes it."""

    refund_id: str
    refund_amount: int  # minor units
