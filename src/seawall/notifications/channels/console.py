"""The development channel: the rendered text goes to the structured log."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.kit.clock import Clock
from seawall.notifications.channels.base import Recipient, register_channel
from seawall.notifications.rendering import RenderedMessage

log = structlog.get_logger("seawall.notifications.console")


class ConsoleChannel:
    name = "console"

    def can_reach(self, recipient: Recipient) -> bool:
        return True

    async def send(self, *, message_id: str, recipient: Recipient, rendered: RenderedMessage,
                   event: dict[str, Any], session: AsyncSession, clock: Clock) -> str | None:
        log.info("notification.console", message_id=message_id, user_id=recipient.user_id,
                 subject=rendered.subject, text=rendered.text)
        return message_id

    async def aclose(self) -> None:
        return None


@register_channel("console")
def console_channel(_settings: Settings) -> ConsoleChannel:
    return ConsoleChannel()
