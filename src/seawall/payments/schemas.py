"""Wire shapes of the payments API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from seawall.kit.wire import StrictModel

# ISO 4217 alphabetic code in either case; kept lower-case, as Stripe spells it. The pattern admits both
# cases because it runs before the lower-casing (a `to_lower` constraint would run after it).
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$"), AfterValidator(str.lower)]
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,96}$")]
MAX_AMOUNT = 99_999_999  # Stripe's limit for most currencies, in minor units
# Money in minor units is a JSON integer and nothing else: `true`, `1.0` and `"1"` are refused (422)
# rather than coerced, so a client's bug never becomes a charge.
Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="minor units, e.g. cents; a JSON integer")]


class PaymentIn(StrictModel):
    amount: Amount
    currency: Currency
    payment_method: PaymentMethodId
    description: Annotated[str | None, Field(max_length=500)] = None


class RefundIn(StrictModel):
    amount: Annotated[Amount | None, Field(description="minor units; default: what is left")] = None
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
    # The provider's dispute status (e.g. `needs_response`) when the cardholder disputed the charge.
    dispute_status: str | None = None
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
