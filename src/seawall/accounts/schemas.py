"""Wire shapes of the accounts API. Unknown fields and oversize input are rejected."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from seawall.kit.addresses import EmailAddress
from seawall.kit.wire import StrictModel
from seawall.payments.schemas import PaymentOut

Password = Annotated[str, Field(min_length=12, max_length=128)]


PlanCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")]
PaymentMethodId = Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]{1,96}$")]


class SignupIn(StrictModel):
    email: EmailAddress
    password: Password
    plan: PlanCode | None = None
    payment_method: PaymentMethodId | None = None

    @model_validator(mode="after")
    def _plan_needs_payment_method(self) -> SignupIn:
        if (self.plan is None) != (self.payment_method is None):
            raise ValueError("plan and payment_method go together")
        return self


class PlanPaymentIn(StrictModel):
    payment_method: PaymentMethodId


class LoginIn(StrictModel):
    email: EmailAddress
    password: Annotated[str, Field(min_length=1, max_length=128)]


class PasswordResetIn(StrictModel):
    email: EmailAddress


class PasswordResetConfirmIn(StrictModel):
    token: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class PasswordChangeIn(StrictModel):
    current_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password  # the sign-up rules

    @model_validator(mode="after")
    def _new_differs(self) -> PasswordChangeIn:
        if self.new_password == self.current_password:
            raise ValueError("new_password must differ from current_password")
        return self


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    status: str
    plan: str | None = None
    created_at: datetime


class SignupOut(BaseModel):
    user: UserOut
    payment: PaymentOut | None = None


class SessionOut(BaseModel):
    id: str
    token: str
    token_type: str = "Bearer"
    expires_at: datetime


class AcceptedOut(BaseModel):
    status: str = "accepted"
    message: str
