"""The webhook machinery one process shares: its settings, the SSRF guard and the sender.

Built once per process (`build_client`, by `Runtime.build`). Routes get it as `WebhookClientDep`
(`webhooks.deps`), the delivery handler as `ctx.runtime.webhooks` (`webhooks.tasks.WebhooksJobRuntime`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from seawall.webhooks.config import WebhookSettings
from seawall.webhooks.sender import WebhookSender
from seawall.webhooks.ssrf import Resolver, UrlGuard


@dataclass
class WebhookClient:
    settings: WebhookSettings
    guard: UrlGuard
    sender: WebhookSender
    rng: random.Random = field(default_factory=random.Random)

    async def aclose(self) -> None:
        await self.sender.aclose()


def build_client(settings: WebhookSettings, *, resolver: Resolver | None = None,
                 rng: random.Random | None = None) -> WebhookClient:
    return WebhookClient(
        settings=settings,
        guard=UrlGuard(allow_private=settings.allow_private, resolver=resolver,
                       resolve_timeout_seconds=settings.connect_timeout_seconds),
        sender=WebhookSender(
            connect_timeout_seconds=settings.connect_timeout_seconds,
            timeout_seconds=settings.timeout_seconds,
            max_concurrent_per_host=settings.max_concurrent_per_host,
        ),
        rng=rng or random.Random(),
    )
