"""Notifying, inside the transaction of the change that caused it.

`notify(session, message)` — called by `subscribers` when another domain announces an event —
writes one notification record per channel the user wants (email by default) and one
`notifications.send` job per record, in the caller's transaction: the notification exists if and
only if the change that caused it committed. The same message notified twice (a handler running
again) finds the existing records: one message per key and channel.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import contested_insert
from seawall.jobs import enqueue
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.notifications import repository
from seawall.notifications.messages import NotificationMessage, PasswordResetEmail
from seawall.notifications.models import Notification, NotificationPreference, NotificationStatus

SEND_JOB = "notifications.send"
DEFAULT_CHANNELS = ("email",)


async def channels_for(session: AsyncSession, message: NotificationMessage) -> list[str]:
    if isinstance(message, PasswordResetEmail) or message.user_id is None:
        return ["email"]  # secrets go only to the address that asked for them
    preference = await repository.preferences_of(session, message.user_id)
    return list(preference.channels) if preference is not None else list(DEFAULT_CHANNELS)


async def notify(session: AsyncSession, message: NotificationMessage, *, clock: Clock) -> list[Notification]:
    created = []
    # Only the fields given: a message without its data (ids only) stays recognizable as such.
    payload = {"type": message.type, **message.model_dump(mode="json", exclude_unset=True)}
    for channel in await channels_for(session, message):
        existing = await repository.find(session, event_key=message.key, channel=channel)
        if existing is not None:
            created.append(existing)
            continue
        notification = Notification(
            id=new_id("ntf"), user_id=message.user_id, event_type=message.type, event_key=message.key,
            channel=channel, payload=payload, status=NotificationStatus.PENDING, attempts=0,
            created_at=clock.now(),
        )
        try:
            async with contested_insert(session):
                session.add(notification)
        except IntegrityError:  # a concurrent transaction notified the same event first
            existing = await repository.find(session, event_key=message.key, channel=channel)
            if existing is None:
                raise
            created.append(existing)
            continue
        await enqueue(session, SEND_JOB, {"notification_id": notification.id},
                      dedup_key=f"{SEND_JOB}:{notification.id}", clock=clock)
        created.append(notification)
    return created


async def set_preferences(session: AsyncSession, *, clock: Clock, user_id: str, channels: list[str],
                          phone_number: str | None) -> NotificationPreference:
    preference = await repository.preferences_of(session, user_id)
    if preference is None:
        preference = NotificationPreference(user_id=user_id, channels=channels, phone_number=phone_number,
                                            updated_at=clock.now())
        session.add(preference)
    else:
        preference.channels = channels
        preference.phone_number = phone_number
        preference.updated_at = clock.now()
    await session.flush()
    return preference


async def preferences(session: AsyncSession, *, user_id: str) -> NotificationPreference | None:
    return await repository.preferences_of(session, user_id)


async def list_notifications(session: AsyncSession, *, user_id: str, limit: int, cursor: str | None
                             ) -> tuple[list[Notification], str | None]:
    return await repository.list_of(session, user_id=user_id, limit=limit, cursor=cursor)


