"""Users, their login sessions and password resets. Secrets are stored only as SHA-256 digests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import UTCDateTime


class UserStatus(StrEnum):
    ACTIVE = "active"
    PENDING_PAYMENT = "pending_payment"
    PAYMENT_FAILED = "payment_failed"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    plan: Mapped[str | None] = mapped_column(String(32))
    # The payment that pays for `plan` (the sign-up's, or the latest retry's): its settlement decides
    # `pending_payment` → `active` / `payment_failed`.
    plan_payment_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # absolute: login + session_ttl_hours (indexed for the retention purge, migration 0013)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The idle timeout counts from here: set at login, refreshed at most every `SessionTiming.refresh`
    # (None: a row from before migration 0010's writers, read as `created_at`).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def last_used(self) -> datetime:
        return self.last_used_at if self.last_used_at is not None else self.created_at


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
