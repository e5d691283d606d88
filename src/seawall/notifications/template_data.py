"""The data a notification's template is rendered with, and who it goes to.

Most of it is carried by the message itself (`messages`). Two things are fetched at send time,
through the owning domain's service: the recipient's address (`accounts.service.get_user`: it
may have changed since), and a password reset's token (derived again, never stored). Messages
recorded by a version before 0.11 carry ids only; `_filled` fetches their data the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import service as accounts
from seawall.errors import NotFoundError
from seawall.notifications import repository
from seawall.notifications.channels import Recipient
from seawall.notifications.messages import NotificationMessage, PasswordResetEmail, RefundReceipt, Welcome
from seawall.payments import service as payments


async def recipient_of(session: AsyncSession, message: NotificationMessage) -> Recipient:
    if message.user_id is None:
        raise NotFoundError("notification without a user")
    user = await accounts.get_user(session, message.user_id)
    preference = await repository.preferences_of(session, message.user_id)
    return Recipient(user_id=user.id, email=user.email,
                     phone_number=preference.phone_number if preference is not None else None)


async def template_data(session: AsyncSession, message: NotificationMessage, *, secret_key: bytes,
                        recipient: Recipient) -> dict[str, Any]:
    """Every variable the message's template uses (`rendering` lists them)."""
    if not message.carries_its_data:
        message = await _filled(session, message)
    data: dict[str, Any] = {"email": recipient.email, **message.template_values()}
    if isinstance(message, PasswordResetEmail):
        issued = await accounts.password_reset_message_data(session, reset_id=message.reset_id,
                                                            secret_key=secret_key)
        data.update(token=issued.token, expires_at=issued.expires_at.isoformat())
    return data


async def _filled(session: AsyncSession, message: NotificationMessage) -> NotificationMessage:
    """A message recorded before 0.11 (ids only), with its data fetched from the owning domains."""
    if isinstance(message, Welcome):
        user = await accounts.get_user(session, message.user_id)
        return message.model_copy(update={"plan": user.plan})
    payment_id = getattr(message, "payment_id", None)
    if payment_id is None or message.user_id is None:
        return message
    payment = await payments.get_payment_of(session, user_id=message.user_id, payment_id=payment_id)
    update: dict[str, Any] = {"amount": payment.amount, "currency": payment.currency,
                              "description": payment.description, "failure_message": payment.failure_message}
    if isinstance(message, RefundReceipt):
        refund = await payments.get_refund_of(session, user_id=message.user_id, refund_id=message.refund_id)
        update["refund_amount"] = refund.amount
    return message.model_copy(update=update)
