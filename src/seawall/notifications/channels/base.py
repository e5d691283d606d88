"""The channel strategy interface and its registry.

A channel turns one rendered notification into one delivery attempt. It receives the stable
`message_id` (the notification id) and must pass it to the provider in whatever form the channel
allows (email `Message-ID`, an idempotency header, a webhook id), so a redelivery after a crash is
detectable and deduplicated downstream. Channels raise the `seawall.providers.errors` tree:
`ProviderRejectedError` is permanent (the notification fails), anything else is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.kit.clock import Clock
from seawall.notifications.rendering import RenderedMessage


@dataclass(frozen=True)
class Recipient:
    user_id: str | None
    email: str | None
    phone_number: str | None = None


class Channel(Protocol):
    name: str

    def can_reach(self, recipient: Recipient) -> bool: ...

    async def send(self, *, message_id: str, recipient: Recipient, rendered: RenderedMessage,
                   event: dict[str, Any], session: AsyncSession, clock: Clock) -> str | None:
        """Deliver; returns the provider's message id if it gives one. Anything recorded is timed by
        `clock`, the job's."""
        ...

    async def aclose(self) -> None: ...


ChannelFactory = Callable[[Settings], Channel]


@dataclass
class ChannelRegistry:
    factories: dict[str, ChannelFactory] = field(default_factory=dict)

    def register(self, name: str) -> Callable[[ChannelFactory], ChannelFactory]:
        def add(factory: ChannelFactory) -> ChannelFactory:
            self.factories[name] = factory
            return factory

        return add

    def build(self, settings: Settings) -> dict[str, Channel]:
        return {name: factory(settings) for name, factory in self.factories.items()}


channel_registry = ChannelRegistry()
register_channel = channel_registry.register
