"""Notification events with typed payloads. Each has a stable `key`: the same event notified twice
is one notification per channel."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class NotificationEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    user_id: str | None

    @property
    def key(self) -> str:
        raise NotImplementedError


class Welcome(NotificationEvent):
    type: Literal["welcome"] = "welcome"
    user_id: str

    @property
    def key(self) -> str:
        return f"welcome:{self.user_id}"


class PaymentReceipt(NotificationEvent):
    type: Literal["payment_receipt"] = "payment_receipt"
    user_id: str
    payment_id: str

    @property
    def key(self) -> str:
        return f"payment_receipt:{self.payment_id}"


class PaymentFailed(NotificationEvent):
    type: Literal["payment_failed"] = "payment_failed"
    user_id: str
    payment_id: str

    @property
    def key(self) -> str:
        return f"payment_failed:{self.payment_id}"


class RefundIssued(NotificationEvent):
    type: Literal["refund_issued"] = "refund_issued"
    user_id: str
    payment_id: str
    refund_id: str

    @property
    def key(self) -> str:
        return f"refund_issued:{self.refund_id}"


class PasswordReset(NotificationEvent):
    """Sent by email only, to the address the reset was requested for."""

    type: Literal["password_reset"] = "password_reset"
    user_id: str
    reset_id: str

    @property
    def key(self) -> str:
        return f"password_reset:{self.reset_id}"


EVENT_TYPES: dict[str, type[NotificationEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (Welcome, PaymentReceipt, PaymentFailed, RefundIssued, PasswordReset)
}


def event_from_payload(payload: dict[str, object]) -> NotificationEvent:
    return EVENT_TYPES[str(payload["type"])].model_validate(payload)
