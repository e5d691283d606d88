"""The SMS channel over a Twilio-style API (`SEAWALL_SMS_API_BASE`). The notification id goes as the
idempotency key; a user reaches it only with a phone number in their notification preferences."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.kit.clock import Clock
from seawall.notifications.channels.base import Recipient, register_channel
from seawall.notifications.channels.email import classify_delivery_error
from seawall.notifications.rendering import RenderedMessage
from seawall.providers.errors import ProviderRejectedError
from seawall.providers.sms import SmsSender, TwilioSmsSender
from seawall.resilience import ProviderPolicy, policy_from_settings

MAX_SMS_CHARS = 600


class SmsChannel:
    name = "sms"

    def __init__(self, *, sender: SmsSender | None, policy: ProviderPolicy) -> None:
        self.sender = sender
        self.policy = policy

    def can_reach(self, recipient: Recipient) -> bool:
        return self.sender is not None and bool(recipient.phone_number)

    async def send(self, *, message_id: str, recipient: Recipient, rendered: RenderedMessage,
                   event: dict[str, Any], session: AsyncSession, clock: Clock) -> str | None:
        sender = self.sender
        if sender is None or recipient.phone_number is None:
            raise ProviderRejectedError("no SMS provider or phone number", provider="sms")
        body = f"{rendered.subject}\n{rendered.text}"[:MAX_SMS_CHARS]
        sent = await self.policy.call(
            lambda: sender.send_sms(to=recipient.phone_number or "", body=body, idempotency_key=message_id),
            classify=classify_delivery_error, action="send")
        return sent.sid

    async def aclose(self) -> None:
        if self.sender is not None:
            await self.sender.aclose()


@register_channel("sms")
def sms_channel(settings: Settings) -> SmsChannel:
    sender = None
    if settings.sms_api_base:
        sender = TwilioSmsSender(
            account_sid=settings.sms_account_sid, auth_token=settings.sms_auth_token.get_secret_value(),
            from_number=settings.sms_from, api_base=settings.sms_api_base,
            connect_timeout=settings.provider_connect_timeout_seconds,
            read_timeout=settings.provider_read_timeout_seconds, deadline=settings.provider_total_timeout_seconds,
        )
    return SmsChannel(sender=sender, policy=policy_from_settings("sms", settings))
