"""Settling a payment or refund from the provider's answer, through the state machine.

Used by the charge and refund jobs, by reconciliation and by the provider-event job (Stripe
webhooks, `stripe_events`), always inside the caller's transaction, always under a row lock on the
payment, and always idempotent: settling an already settled payment changes nothing and announces
nothing. Whichever of a job and a provider event settles first wins; the other is a no-op.

Settlement knows nothing of what other domains do with a payment: it announces `PaymentSucceeded`,
`PaymentFailed` or `RefundIssued` (`payments.events`) and their subscribers (activating a paid
sign-up, the receipt, the webhook event) run in the same transaction.
"""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.errors import NotFoundError
from seawall.events import publish
from seawall.kit.clock import Clock
from seawall.observability.commit_counts import count_on_commit
from seawall.payments import ledger, repository
from seawall.payments.events import PaymentFailed, PaymentSucceeded, RefundIssued
from seawall.payments.models import Payment
from seawall.payments.state import (
    CAPTURED_STATUSES,
    SETTLED_STATUSES,
    PaymentStatus,
    RefundStatus,
    check_payment_transition,
    check_refund_transition,
)


async def _locked_payment(session: AsyncSession, payment_id: str) -> Payment:
    payment = await repository.get_payment(session, payment_id, for_update=True)
    if payment is None:
        raise NotFoundError(f"no payment {payment_id}")
    return payment


async def settle_succeeded(session: AsyncSession, *, clock: Clock, payment_id: str, intent_id: str) -> bool:
    """Mark captured, write the ledger, announce `PaymentSucceeded`. False when it was already settled."""
    payment = await _locked_payment(session, payment_id)
    if payment.status in SETTLED_STATUSES:
        return False
    if payment.status == PaymentStatus.PENDING:
        payment.status = check_payment_transition(payment.status, PaymentStatus.PROCESSING)
    now = clock.now()
    payment.status = check_payment_transition(payment.status, PaymentStatus.SUCCEEDED)
    payment.provider_intent_id = intent_id
    payment.failure_code = payment.failure_message = None
    payment.updated_at = now
    ledger.record_charge(session, payment, now=now)
    await session.flush()
    await publish(session, PaymentSucceeded(**_as_it_stands(payment)), clock=clock)
    count_on_commit(session, "payments", key=payment.id, outcome="succeeded")
    return True


class _PaymentFields(TypedDict):
    payment_id: str
    user_id: str
    amount: int
    currency: str
    description: str | None
    status: str
    amount_refunded: int
    failure_code: str | None
    failure_message: str | None


def _as_it_stands(payment: Payment) -> _PaymentFields:
    """The `PaymentEvent` fields of `payment` after the change."""
    return {"payment_id": payment.id, "user_id": payment.user_id, "amount": payment.amount,
            "currency": payment.currency, "description": payment.description, "status": payment.status,
            "amount_refunded": payment.amount_refunded, "failure_code": payment.failure_code,
            "failure_message": payment.failure_message}


async def settle_failed(session: AsyncSession, *, clock: Clock, payment_id: str, code: str | None,
                        message: str, intent_id: str | None = None) -> bool:
    payment = await _locked_payment(session, payment_id)
    if payment.status in SETTLED_STATUSES:
        return False
    payment.status = check_payment_transition(payment.status, PaymentStatus.FAILED)
    payment.failure_code = code
    payment.failure_message = message[:1000]
    payment.provider_intent_id = intent_id or payment.provider_intent_id
    payment.updated_at = clock.now()
    await session.flush()
    await publish(session, PaymentFailed(**_as_it_stands(payment)), clock=clock)
    count_on_commit(session, "payments", key=payment.id, outcome="failed")
    return True


async def settle_refund(session: AsyncSession, *, clock: Clock, refund_id: str, succeeded: bool,
                        provider_refund_id: str | None, message: str | None = None) -> bool:
    refund = await repository.get_refund(session, refund_id, for_update=True)
    if refund is None:
        raise NotFoundError(f"no refund {refund_id}")
    if refund.status != RefundStatus.PENDING:
        return False
    payment = await _locked_payment(session, refund.payment_id)
    now = clock.now()
    refund.updated_at = now
    refund.provider_refund_id = provider_refund_id
    if not succeeded:
        refund.status = check_refund_transition(refund.status, RefundStatus.FAILED)
        refund.failure_message = (message or "refused by the provider")[:1000]
        await session.flush()
        return True
    refund.status = check_refund_transition(refund.status, RefundStatus.SUCCEEDED)
    payment.amount_refunded += refund.amount
    fully = payment.amount_refunded >= payment.amount
    payment.status = check_payment_transition(
        payment.status, PaymentStatus.REFUNDED if fully else PaymentStatus.PARTIALLY_REFUNDED)
    payment.updated_at = now
    ledger.record_refund(session, payment, refund, now=now)
    await session.flush()
    await publish(session, RefundIssued(**_as_it_stands(payment), refund_id=refund.id, refund_amount=refund.amount),
                  clock=clock)
    return True




async def record_dispute(session: AsyncSession, *, clock: Clock, payment_id: str, dispute_id: str,
                         dispute_status: str, withdrawn: int, fee: int, currency: str) -> bool | None:
    """Flag the payment as disputed and write what the dispute withdrew (`ledger.record_dispute_withdrawal`).

    False when this dispute is already recorded; None when the payment is not captured here yet
    (the caller retries once the charge has settled). Amounts in minor units of `currency`.
    """
    payment = await _locked_payment(session, payment_id)
    if payment.dispute_id == dispute_id:
        return False
    if payment.status not in CAPTURED_STATUSES:
        return None
    now = clock.now()
    payment.dispute_id = dispute_id
    payment.dispute_status = dispute_status[:32]
    payment.updated_at = now
    ledger.record_dispute_withdrawal(session, payment, dispute_id=dispute_id, amount=withdrawn, fee=fee,
                                     currency=currency, now=now)
    await session.flush()
    return True
