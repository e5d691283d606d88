"""The objects one process role shares: settings, database, clock and the server secret."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from seawall.accounts.passwords import Passwords
from seawall.config import Settings
from seawall.db import Database
from seawall.kit.clock import Clock, SystemClock
from seawall.notifications.channels import Channel, build_channels
from seawall.payments.gateway import PaymentGateway, build_gateway
from seawall.webhooks.gateway import WebhookGateway
from seawall.webhooks.gateway import build_gateway as build_webhook_gateway


@dataclass
class Runtime:
    settings: Settings
    database: Database
    secret_key: bytes
    passwords: Passwords
    payments: PaymentGateway
    webhooks: WebhookGateway
    channels: dict[str, Channel]
    clock: Clock = field(default_factory=SystemClock)
    draining: bool = False

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        return cls(
            settings=settings,
            database=Database(settings),
            secret_key=load_secret_key(settings),
            passwords=Passwords(settings),
            payments=build_gateway(settings),
            webhooks=build_webhook_gateway(settings.webhooks),
            channels=build_channels(settings),
            clock=clock or SystemClock(),
        )


    async def aclose(self) -> None:
        await self.payments.aclose()
        await self.webhooks.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        await self.database.dispose()


def load_secret_key(settings: Settings) -> bytes:
    """`SEAWALL_SECRET_KEY`, or in embedded mode a random key kept in `<var_dir>/secret.key`.

    Server mode needs the variable: every process must share one key.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    if not settings.is_embedded_database:
        raise RuntimeError("SEAWALL_SECRET_KEY must be set when SEAWALL_DATABASE_URL is set")
    path = Path(settings.var_dir) / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode("utf-8")
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())
    return path.read_text().strip().encode("utf-8")
