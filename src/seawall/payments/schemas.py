"""Wire shapes of the payments API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$", to_lower=True)]
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,96}$")]
MAX_AMOUNT = 99_999_999  # Stripe's limit for most currencies, in minor units


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentIn(StrictModel):
    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="minor units, e.g. cents")]
    currency: Currency
    payment_method: PaymentMethodId
    description: Annotated[str | None, Field(max_length=500)] = None


class RefundIn(StrictModel):
    amount: Annotated[int | None, Field(gt=0, le=MAX_AMOUNT, description="default: what is left")] = None
    reason: Annotated[str | None, Field(max_length=200)] = None


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    amount: int
    currency: str
    status: str
    description: str | None
    payment_method: str
    amount_refunded: int
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


class PaymentPageOut(BaseModel):
    data: list[PaymentOut]
    next_cursor: str | None


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    payment_id: str
    amount: int
    status: str
    failure_message: str | None
    created_at: datetime
