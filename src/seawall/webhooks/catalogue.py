"""The event types an endpoint can subscribe to. Each type has one payload schema (`data`)."""

from __future__ import annotations

from typing import Literal

EventType = Literal["payment.succeeded", "payment.failed", "refund.created", "notification.created"]

# `notification.created` carries a user notification to endpoints of users whose preferences
# include the webhook channel.
EVENT_TYPES: tuple[str, ...] = ("payment.succeeded", "payment.failed", "refund.created", "notification.created")
