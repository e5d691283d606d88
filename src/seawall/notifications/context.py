"""What each notification's template needs, reloaded from the owning domains when it is sent.

Jobs carry ids only; the content (amounts, addresses, reset tokens) is read at send time, so a
message always shows the current state, and secrets never sit in the jobs table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import service as accounts
from seawall.errors import NotFoundError
from seawall.notifications import repository
from seawall.notifications.channels import Recipient
from seawall.notifications.events import (
    NotificationEvent,
    PasswordReset,
    PaymentFailed,
    PaymentReceipt,
    RefundIssued,
    Welcome,
)
from seawall.payments import service as payments

FREE_PLAN = "free"


def money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency.upper()}"


async def recipient_of(session: AsyncSession, event: NotificationEvent) -> Recipient:
    if event.user_id is None:
        raise NotFoundError("notification without a user")
    user = await accounts.get_user(session, event.user_id)
    preference = await repository.preferences_of(session, event.user_id)
    return Recipient(user_id=user.id, email=user.email,
                     phone_number=preference.phone_number if preference is not None else None)


async def template_context(session: AsyncSession, event: NotificationEvent, *, secret_key: bytes,
                           recipient: Recipient) -> dict[str, Any]:
    context: dict[str, Any] = {"email": recipient.email}
    if isinstance(event, Welcome):
        user = await accounts.get_user(session, event.user_id)
        context.update(plan=user.plan or FREE_PLAN)  # a free sign-up has no plan code
    elif isinstance(event, PaymentReceipt | PaymentFailed | RefundIssued):
        payment = await payments.get_payment_of(session, user_id=event.user_id, payment_id=event.payment_id)
        context.update(payment_id=payment.id, amount=money(payment.amount, payment.currency),
                       description=payment.description or "", failure_message=payment.failure_message or "")
        if isinstance(event, RefundIssued):
            refund = await payments.get_refund_of(session, user_id=event.user_id, refund_id=event.refund_id)
            context.update(refund_id=refund.id, refund_amount=money(refund.amount, payment.currency))
    elif isinstance(event, PasswordReset):
        issued = await accounts.password_reset_message_data(session, reset_id=event.reset_id, secret_key=secret_key)
        context.update(token=issued.token, expires_at=issued.expires_at.isoformat())
    return context
