"""What notifications does when another domain announces something: record the message (and its
`notifications.send` job) in the same transaction, from the data the event carries.

| event                                   | message               | channels               |
|-----------------------------------------|-----------------------|------------------------|
| accounts `UserActivated`                | `Welcome`             | the user's preferences |
| accounts `PasswordResetIssued`          | `PasswordResetEmail`  | email only             |
| payments `PaymentSucceeded`             | `PaymentReceipt`      | the user's preferences |
| payments `PaymentFailed`                | `PaymentFailedNotice` | the user's preferences |
| payments `RefundIssued`                 | `RefundReceipt`       | the user's preferences |
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts.events import PasswordResetIssued, UserActivated
from seawall.events import subscriber
from seawall.kit.clock import Clock
from seawall.notifications.messages import (
    PasswordResetEmail,
    PaymentFailedNotice,
    PaymentReceipt,
    RefundReceipt,
    Welcome,
)
from seawall.notifications.service import notify
from seawall.payments.events import PaymentFailed, PaymentSucceeded, RefundIssued


@subscriber(UserActivated)
async def welcome(session: AsyncSession, event: UserActivated, *, clock: Clock) -> None:
    await notify(session, Welcome(user_id=event.user_id, plan=event.plan), clock=clock)


@subscriber(PasswordResetIssued)
async def send_reset_link(session: AsyncSession, event: PasswordResetIssued, *, clock: Clock) -> None:
    await notify(session, PasswordResetEmail(user_id=event.user_id, reset_id=event.reset_id), clock=clock)


@subscriber(PaymentSucceeded)
async def send_receipt(session: AsyncSession, event: PaymentSucceeded, *, clock: Clock) -> None:
    await notify(session, PaymentReceipt(
        user_id=event.user_id, payment_id=event.payment_id, amount=event.amount, currency=event.currency,
        description=event.description, failure_message=event.failure_message), clock=clock)


@subscriber(PaymentFailed)
async def send_failure_notice(session: AsyncSession, event: PaymentFailed, *, clock: Clock) -> None:
    await notify(session, PaymentFailedNotice(
        user_id=event.user_id, payment_id=event.payment_id, amount=event.amount, currency=event.currency,
        description=event.description, failure_message=event.failure_message), clock=clock)


@subscriber(RefundIssued)
async def send_refund_receipt(session: AsyncSession, event: RefundIssued, *, clock: Clock) -> None:
    await notify(session, RefundReceipt(
        user_id=event.user_id, payment_id=event.payment_id, amount=event.amount, currency=event.currency,
        description=event.description, failure_message=event.failure_message, refund_id=event.refund_id,
        refund_amount=event.refund_amount), clock=clock)
