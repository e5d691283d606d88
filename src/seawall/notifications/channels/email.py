"""The email channel: SMTP when `SEAWALL_SMTP_HOST` is set, otherwise `.eml` files in the
development mail drop directory. Either way the notification id is the `Message-ID`, so a redelivery after a
crash carries the same id and the receiving side can drop it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.kit.clock import Clock
from seawall.notifications.channels.base import Recipient, register_channel
from seawall.notifications.mail_drop import drop_message
from seawall.notifications.rendering import RenderedMessage
from seawall.providers.email import EmailSender, OutgoingEmail, SmtpEmailSender, build_mime
from seawall.providers.errors import CardDeclinedError, ProviderRejectedError
from seawall.resilience import CallOutcome, ProviderPolicy, policy_from_settings

MESSAGE_ID_DOMAIN = "seawall.invalid"


def classify_delivery_error(exc: BaseException) -> CallOutcome:
    return CallOutcome.SUCCESS if isinstance(exc, ProviderRejectedError | CardDeclinedError) else CallOutcome.FAILURE


class EmailChannel:
    name = "email"

    def __init__(self, *, sender_address: str, smtp: EmailSender | None, mail_drop_dir: Path,
                 policy: ProviderPolicy) -> None:
        self.sender_address = sender_address
        self.smtp = smtp
        self.mail_drop_dir = mail_drop_dir
        self.policy = policy

    def can_reach(self, recipient: Recipient) -> bool:
        return bool(recipient.email)

    async def send(self, *, message_id: str, recipient: Recipient, rendered: RenderedMessage,
                   event: dict[str, Any], session: AsyncSession, clock: Clock) -> str | None:
        assert recipient.email is not None
        message = OutgoingEmail(sender=self.sender_address, to=recipient.email, subject=rendered.subject,
                                text=rendered.text, html=rendered.html,
                                message_id=f"<{message_id}@{MESSAGE_ID_DOMAIN}>")
        smtp = self.smtp
        if smtp is None:
            await drop_message(self.mail_drop_dir, build_mime(message))
            return message.message_id
        sent = await self.policy.call(lambda: smtp.send(message), classify=classify_delivery_error, action="send")
        return sent.message_id

    async def aclose(self) -> None:
        if self.smtp is not None:
            await self.smtp.aclose()


@register_channel("email")
def email_channel(settings: Settings) -> EmailChannel:
    smtp = None
    if settings.smtp_host:
        smtp = SmtpEmailSender(
            host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
            username=settings.smtp_username, password=settings.smtp_password,
            connect_timeout=settings.provider_connect_timeout_seconds,
            command_timeout=settings.provider_read_timeout_seconds,
            deadline=settings.provider_total_timeout_seconds,
            max_idle_connections=settings.smtp_max_idle_connections,
        )
    return EmailChannel(sender_address=settings.email_from, smtp=smtp, mail_drop_dir=settings.resolved_mail_drop_dir,
                        policy=policy_from_settings("smtp", settings))
