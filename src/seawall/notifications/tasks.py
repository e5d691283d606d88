"""Notification job handlers.

- `notifications.send`: renders one notification and delivers it through its channel, passing the
  notification id as the stable message id. A permanent refusal marks it `failed`; a transient
  error is recorded on the notification and retried by the job engine; success marks it `sent` in
  the same transaction as the job's completion.
"""

from __future__ import annotations

from typing import Protocol

from seawall.jobs import DeferJobError, JobContext, PermanentJobError, RetryableJobError, job_handler
from seawall.notifications import repository
from seawall.notifications.channels import Channel
from seawall.notifications.messages import message_from_payload
from seawall.notifications.models import NotificationStatus
from seawall.notifications.rendering import render
from seawall.notifications.state import check_notification_transition
from seawall.notifications.template_data import recipient_of, template_data
from seawall.providers.errors import ProviderRejectedError, ProviderUnavailableError
from seawall.resilience import CallRejectedError


class NotificationsJobRuntime(Protocol):
    """What the notification handlers use of the process runtime (`ctx.runtime`)."""

    @property
    def secret_key(self) -> bytes: ...

    @property
    def channels(self) -> dict[str, Channel]: ...


@job_handler("notifications.send", queue="notifications", max_attempts=10, backoff_base_seconds=2.0,
             backoff_cap_seconds=600.0)
async def send_notification(ctx: JobContext[NotificationsJobRuntime]) -> None:
    notification_id = str(ctx.payload["notification_id"])
    # Only reads before the send: a read transaction takes no write lock (the outcome is written, fenced,
    # with the job's completion, after checking the notification is still pending).
    async with ctx.database.read_transaction() as session:
        notification = await repository.get(session, notification_id)
        if notification is None:
            raise PermanentJobError(f"notification {notification_id} does not exist")
        if notification.status != NotificationStatus.PENDING:
            return
        message = message_from_payload(notification.payload)
        recipient = await recipient_of(session, message)
        template = await template_data(session, message, secret_key=ctx.runtime.secret_key, recipient=recipient)
        channel_name = notification.channel
    channels: dict[str, Channel] = ctx.runtime.channels
    channel = channels.get(channel_name)
    if channel is None or not channel.can_reach(recipient):
        await _finish(ctx, notification_id, status=NotificationStatus.FAILED,
                      error=f"channel {channel_name} cannot reach this user")
        return
    rendered = render(message.type, template)
    try:
        provider_id = await channel.send(message_id=notification_id, recipient=recipient, rendered=rendered,
                                         event=notification.payload, session=ctx.session,
                                         clock=ctx.clock)
    except ProviderRejectedError as rejected:
        await _finish(ctx, notification_id, status=NotificationStatus.FAILED, error=rejected.message)
        return
    except CallRejectedError as refused:
        raise DeferJobError(f"{channel_name}: {refused.message}", retry_after=refused.retry_after) from None
    except (ProviderUnavailableError, TimeoutError) as unavailable:
        reason = unavailable.message if isinstance(unavailable, ProviderUnavailableError) else "timed out"
        await _record_attempt(ctx, notification_id, error=reason)
        retry_after = unavailable.retry_after if isinstance(unavailable, ProviderUnavailableError) else None
        raise RetryableJobError(f"{channel_name}: {reason}", retry_after=retry_after) from None
    await _finish(ctx, notification_id, status=NotificationStatus.SENT, error=None, provider_id=provider_id)


async def _record_attempt(ctx: JobContext, notification_id: str, *, error: str) -> None:
    async with ctx.transaction() as session:
        notification = await repository.get(session, notification_id, for_update=True)
        if notification is not None:
            notification.attempts += 1
            notification.last_error = error[:2000]


async def _finish(ctx: JobContext, notification_id: str, *, status: NotificationStatus, error: str | None,
                  provider_id: str | None = None) -> None:
    notification = await repository.get(ctx.session, notification_id, for_update=True)
    if notification is None or notification.status != NotificationStatus.PENDING:
        return
    notification.attempts += 1
    notification.status = check_notification_transition(notification.status, status)
    notification.last_error = error[:2000] if error else None
    notification.provider_message_id = provider_id
    if status == NotificationStatus.SENT:
        notification.sent_at = ctx.clock.now()
    await ctx.session.flush()


