"""What webhooks does when another domain announces something: record the webhook event and queue
its deliveries, in the same transaction (Standard Webhooks payloads; types in `catalogue`).

| event                       | webhook event type  | `data`                                                  |
|-----------------------------|---------------------|---------------------------------------------------------|
| payments `PaymentSucceeded` | `payment.succeeded` | payment_id, amount, currency, status, amount_refunded,  |
|                             |                     | failure_code                                            |
| payments `PaymentFailed`    | `payment.failed`    | the same                                                |
| payments `RefundIssued`     | `refund.created`    | refund_id and the same (`amount` is the payment's)     |

Each is recorded once per payment (refund): a dedup key makes a re-run of the settling job a no-op.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.events import subscriber
from seawall.kit.clock import Clock
from seawall.payments.events import PaymentEvent, PaymentFailed, PaymentSucceeded, RefundIssued
from seawall.webhooks.service import publish_event


@subscriber(PaymentSucceeded)
async def payment_succeeded(session: AsyncSession, event: PaymentSucceeded, *, clock: Clock) -> None:
    await publish_event(session, clock=clock, user_id=event.user_id, event_type="payment.succeeded",
                        data=_payment_data(event), dedup_key=f"payment.succeeded:{event.payment_id}")


@subscriber(PaymentFailed)
async def payment_failed(session: AsyncSession, event: PaymentFailed, *, clock: Clock) -> None:
    await publish_event(session, clock=clock, user_id=event.user_id, event_type="payment.failed",
                        data=_payment_data(event), dedup_key=f"payment.failed:{event.payment_id}")


@subscriber(RefundIssued)
async def refund_created(session: AsyncSession, event: RefundIssued, *, clock: Clock) -> None:
    await publish_event(session, clock=clock, user_id=event.user_id, event_type="refund.created",
                        data={"refund_id": event.refund_id, **_payment_data(event)},
                        dedup_key=f"refund.created:{event.refund_id}")


def _payment_data(event: PaymentEvent) -> dict[str, Any]:
    return {"payment_id": event.payment_id, "amount": event.amount, "currency": event.currency,
            "status": event.status, "amount_refunded": event.amount_refunded, "failure_code": event.failure_code}
