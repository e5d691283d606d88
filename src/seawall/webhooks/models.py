"""Webhook endpoints, the events published to them, and one delivery per (event, endpoint).

A delivery's id (`msg_...`) is the `webhook-id` header: the same on every attempt and replay, so a
receiver can deduplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import UTCDateTime


class WebhookEndpoint(Base):
    """A URL that receives the events of the types it subscribed to.

    `secret` (`whsec_<base64>`) is stored as is, not as a digest: every delivery is signed with it
    (HMAC-SHA256), so the server must be able to read it. It leaves the server once, in the response
    that created the endpoint; it is never logged, listed, nor kept in the idempotency record.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first failure since the last 2xx
    throttled_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # slowed down (429/502/503/504)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_endpoints_user_created", "user_id", "created_at", "id"),
        Index("ix_webhook_endpoints_user_status", "user_id", "status"),
    )


class WebhookEvent(Base):
    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the `data` of the webhook body
    dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)  # publish once per key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_events_user_created", "user_id", "created_at", "id"),
        Index("ix_webhook_events_created_at", "created_at"),  # the retention purge (migration 0013)
    )


class WebhookDelivery(Base):
    """One event to one endpoint. `attempts` counts every attempt ever made; the retry schedule
    restarts at `schedule_start` (the attempt count when it was last replayed or recovered)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    schedule_start: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_endpoint_status_created", "endpoint_id", "status", "created_at"),
        Index("uq_webhook_deliveries_event_endpoint", "event_id", "endpoint_id", unique=True),
        Index("ix_webhook_deliveries_created_at", "created_at"),  # the retention purge (migration 0013)
    )
