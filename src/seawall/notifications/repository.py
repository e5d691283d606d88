"""All SQL of the notifications domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.kit.repository import Repository
from seawall.notifications.models import Notification, NotificationPreference

notifications = Repository(Notification, id_prefix="ntf_")
get = notifications.get


async def find(session: AsyncSession, *, event_key: str, channel: str) -> Notification | None:
    query = select(Notification).where(Notification.event_key == event_key, Notification.channel == channel)
    return (await session.execute(query)).scalar_one_or_none()


async def preferences_of(session: AsyncSession, user_id: str) -> NotificationPreference | None:
    return await session.get(NotificationPreference, user_id)


async def list_of(session: AsyncSession, *, user_id: str, limit: int, cursor: str | None
                  ) -> tuple[list[Notification], str | None]:
    """A user's notifications, newest first: one keyset page and the next page's cursor."""
    return await notifications.page(session, where=[Notification.user_id == user_id], limit=limit, cursor=cursor)
