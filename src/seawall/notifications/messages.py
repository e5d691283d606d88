"""The messages notifications sends, with typed payloads stored on each notification row.

A message carries what its template shows (amounts in minor units with their currency, the plan
code), copied from the domain event that caused it, so rendering never reads other domains' tables.
Secrets are the exception: a password reset carries only the reset id, and the token is derived
again at send time through `accounts.service` (it never sits in the database).

Each message has a stable `key`: the same message notified twice is one notification per channel.
Messages recorded by a version before 0.11 carry ids only (`carries_its_data` is False); their
data is fetched at send time through the owning domains' services (`template_data`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict


def money(amount: int, currency: str) -> str:
    """`1999, "usd"` → `"19.99 USD"` (amounts in minor units; two decimals, as for every plan currency)."""
    return f"{amount / 100:,.2f} {currency.upper()}"


class NotificationMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ()  # what the template shows, carried by the message

    type: str
    user_id: str | None

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def carries_its_data(self) -> bool:
        return set(self.DATA_FIELDS) <= self.model_fields_set

    def template_values(self) -> dict[str, Any]:
        """The template variables this message supplies itself (see `rendering`)."""
        return {}


class Welcome(NotificationMessage):
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("plan",)

    type: Literal["welcome"] = "welcome"
    user_id: str
    plan: str | None = None  # None: a free account

    @property
    def key(self) -> str:
        return f"welcome:{self.user_id}"

    def template_values(self) -> dict[str, Any]:
        return {"plan": self.plan or "free"}


class PaymentMessage(NotificationMessage):
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("amount", "currency", "description", "failure_message")

    user_id: str
    payment_id: str
    amount: int | None = None  # minor units
    currency: str | None = None
    description: str | None = None
    failure_message: str | None = None

    def template_values(self) -> dict[str, Any]:
        assert self.amount is not None and self.currency is not None
        return {"payment_id": self.payment_id, "amount": money(self.amount, self.currency),
                "description": self.description or "", "failure_message": self.failure_message or ""}


class PaymentReceipt(PaymentMessage):
    type: Literal["payment_receipt"] = "payment_receipt"

    @property
    def key(self) -> str:
        return f"payment_receipt:{self.payment_id}"


class PaymentFailedNotice(PaymentMessage):
    type: Literal["payment_failed"] = "payment_failed"

    @property
    def key(self) -> str:
        return f"payment_failed:{self.payment_id}"


class RefundReceipt(PaymentMessage):
    DATA_FIELDS: ClassVar[tuple[str, ...]] = (*PaymentMessage.DATA_FIELDS, "refund_amount")

    type: Literal["refund_issued"] = "refund_issued"
    refund_id: str
    refund_amount: int | None = None  # minor units, in the payment's currency

    @property
    def key(self) -> str:
        return f"refund_issued:{self.refund_id}"

    def template_values(self) -> dict[str, Any]:
        assert self.refund_amount is not None and self.currency is not None
        return {**super().template_values(), "refund_id": self.refund_id,
                "refund_amount": money(self.refund_amount, self.currency)}


class PasswordResetEmail(NotificationMessage):
    """Sent by email only, to the address the reset was requested for; the token is derived at send time."""

    type: Literal["password_reset"] = "password_reset"
    user_id: str
    reset_id: str

    @property
    def key(self) -> str:
        return f"password_reset:{self.reset_id}"


MESSAGE_TYPES: dict[str, type[NotificationMessage]] = {
    cls.model_fields["type"].default: cls
    for cls in (Welcome, PaymentReceipt, PaymentFailedNotice, RefundReceipt, PasswordResetEmail)
}


def message_from_payload(payload: dict[str, object]) -> NotificationMessage:
    return MESSAGE_TYPES[str(payload["type"])].model_validate(payload)
