"""Payments, refunds and the double-entry ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import BigIntPK, UTCDateTime


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(32))  # a label for people ("charge", "plan:<code>"); no rule reads it
    status: Mapped[str] = mapped_column(String(24))
    # The payment route ("stripe", "fallback") it was sent to; sticky once sent. Column "provider".
    route_name: Mapped[str | None] = mapped_column("provider", String(32))
    provider_outcome_unknown: Mapped[bool] = mapped_column(default=False)  # a send may have reached it
    provider_intent_id: Mapped[str | None] = mapped_column(String(255))
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    # A chargeback the cardholder opened (Stripe `charge.dispute.created`): a flag beside the status,
    # which keeps following captures and refunds. `dispute_status` is Stripe's (e.g. needs_response).
    dispute_id: Mapped[str | None] = mapped_column(String(255))
    dispute_status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_payments_user_created", "user_id", "created_at", "id"),)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))  # the provider's id (Stripe `re_...`)
    # A send may have reached the provider and its answer is not recorded: look up before sending again.
    provider_outcome_unknown: Mapped[bool] = mapped_column(default=False, server_default=false())
    failure_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # One row per provider refund: a refund seen in a provider event is recorded at most once.
    __table_args__ = (Index("uq_refunds_provider_refund_id", "provider_refund_id", unique=True),)


class LedgerEntry(Base):
    """One leg of a balanced ledger transaction; `amount` is positive, `side` is debit or credit."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_ledger_entries_transaction_leg", "transaction_id", "account", "side", unique=True),)




class ProviderEvent(Base):
    """An event a payment provider pushed to us (Stripe webhooks), stored once per (provider, event id).

    `payload` is the body as received (verified JSON text); `outcome` says what applying it did
    (`applied`, `already_settled`, `unknown_payment`, `ignored`, ...), null until the job ran.
    """

    __tablename__ = "provider_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("uq_provider_events_provider_event", "provider", "event_id", unique=True),)
