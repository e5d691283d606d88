"""Settings of the webhooks domain (`SEAWALL_WEBHOOKS_*`): a section of `seawall.config.Settings`."""

from seawall.config import FIVE_DAYS_SECONDS, WebhookSettings

__all__ = ["FIVE_DAYS_SECONDS", "WebhookSettings"]
