"""Wire shapes of the accounts API. Unknown fields and oversize input are rejected."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

Password = Annotated[str, Field(min_length=12, max_length=128)]


def _normalize_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(_normalize_email)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class SignupIn(StrictModel):
    email: Email
    password: Password


class LoginIn(StrictModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=128)]


class PasswordResetIn(StrictModel):
    email: Email


class PasswordResetConfirmIn(StrictModel):
    token: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    status: str
    created_at: datetime


class SignupOut(BaseModel):
    user: UserOut


class SessionOut(BaseModel):
    id: str
    token: str
    token_type: str = "Bearer"
    expires_at: datetime


class AcceptedOut(BaseModel):
    status: str = "accepted"
    message: str
