"""The webhook machinery one process shares: its settings, the SSRF guard and the sender.

Built once per process (`build_gateway`). `gateway_of(runtime)` finds it on the process runtime
(`runtime.webhooks`); until `Runtime` builds it itself, the first call builds it from the
environment (`WebhookSettings()`) and keeps it there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from seawall.webhooks.config import WebhookSettings
from seawall.webhooks.sender import WebhookSender
from seawall.webhooks.ssrf import Resolver, UrlGuard


@dataclass
class WebhookGateway:
    settings: WebhookSettings
    guard: UrlGuard
    sender: WebhookSender
    rng: random.Random = field(default_factory=random.Random)

    async def aclose(self) -> None:
        await self.sender.aclose()


def build_gateway(settings: WebhookSettings, *, resolver: Resolver | None = None,
                  rng: random.Random | None = None) -> WebhookGateway:
    return WebhookGateway(
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


def gateway_of(runtime: Any) -> WebhookGateway:
    gateway = runtime.webhooks
    assert isinstance(gateway, WebhookGateway)
    return gateway
