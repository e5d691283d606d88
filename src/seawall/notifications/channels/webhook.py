"""The webhook channel: a notification becomes an event on the user's webhook endpoints.

It only writes rows (the event and its deliveries, in the job's transaction); the webhooks domain's
own jobs deliver them, signed, with their own retry schedule.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.kit.clock import Clock
from seawall.notifications.channels.base import Recipient, register_channel
from seawall.notifications.rendering import RenderedMessage
from seawall.webhooks import service as webhooks


class WebhookChannel:
    name = "webhook"

    def can_reach(self, recipient: Recipient) -> bool:
        return recipient.user_id is not None

    async def send(self, *, message_id: str, recipient: Recipient, rendered: RenderedMessage,
                   event: dict[str, Any], session: AsyncSession, clock: Clock) -> str | None:
        assert recipient.user_id is not None
        published = await webhooks.publish_event(
            session, clock=clock, user_id=recipient.user_id, event_type="notification.created",
            data={"notification_id": message_id, "subject": rendered.subject, "text": rendered.text, **event},
            dedup_key=f"notification.created:{message_id}",
        )
        return published.id

    async def aclose(self) -> None:
        return None


@register_channel("webhook")
def webhook_channel(_settings: Settings) -> WebhookChannel:
    return WebhookChannel()
