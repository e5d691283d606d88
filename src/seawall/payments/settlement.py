"""Settling a payment or refund from the provider's answer, through the state machine.

Used by the charge and refund jobs and by reconciliation, always inside the caller's transaction,
always under a row lock on the payment, and always idempotent: settling an already settled payment
changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import service as accounts
from seawall.accounts.service import SIGNUP_PURPOSE_PREFIX
from seawall.errors import NotFoundError
from seawall.kit.clock import Clock
from seawall.notifications import service as notifications
from seawall.notifications.events import PaymentFailed, PaymentReceipt, RefundIssued, Welcome
from seawall.payments import ledger, repository
from seawall.payments.models import Payment
from seawall.payments.state import (
    SETTLED_STATUSES,
    PaymentStatus,
    RefundStatus,
    check_payment_transition,
    check_refund_transition,
)
from seawall.webhooks import service as webhooks


async def _locked_payment(session: AsyncSession, payment_id: str) -> Payment:
    payment = await repository.get_payment(session, payment_id, for_update=True)
    if payment is None:
        raise NotFoundError(f"no payment {payment_id}")
    return payment


async def settle_succeeded(session: AsyncSession, *, clock: Clock, payment_id: str, intent_id: str) -> bool:
    """Mark captured, write the ledger, activate a paid sign-up. False when it was already settled."""
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
    if payment.purpose.startswith(SIGNUP_PURPOSE_PREFIX):
        await accounts.record_signup_payment(session, clock=clock, user_id=payment.user_id, paid=True)
        await notifications.notify(session, Welcome(user_id=payment.user_id), clock=clock)
    await notifications.notify(session, PaymentReceipt(user_id=payment.user_id, payment_id=payment.id), clock=clock)
    await webhooks.publish_event(session, clock=clock, user_id=payment.user_id, event_type="payment.succeeded",
                                 data=_payment_data(payment), dedup_key=f"payment.succeeded:{payment.id}")
    await session.flush()
    return True


def _payment_data(payment: Payment) -> dict[str, Any]:
    return {"payment_id": payment.id, "amount": payment.amount, "currency": payment.currency,
            "status": payment.status, "amount_refunded": payment.amount_refunded,
            "failure_code": payment.failure_code}


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
    if payment.purpose.startswith(SIGNUP_PURPOSE_PREFIX):
        await accounts.record_signup_payment(session, clock=clock, user_id=payment.user_id, paid=False)
    await notifications.notify(session, PaymentFailed(user_id=payment.user_id, payment_id=payment.id), clock=clock)
    await webhooks.publish_event(session, clock=clock, user_id=payment.user_id, event_type="payment.failed",
                                 data=_payment_data(payment), dedup_key=f"payment.failed:{payment.id}")
    await session.flush()
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
    await notifications.notify(session, RefundIssued(user_id=payment.user_id, payment_id=payment.id,
                                                     refund_id=refund.id), clock=clock)
    await webhooks.publish_event(session, clock=clock, user_id=payment.user_id, event_type="refund.created",
                                 data={"refund_id": refund.id, "amount": refund.amount, **_payment_data(payment)},
                                 dedup_key=f"refund.created:{refund.id}")
    await session.flush()
    return True


