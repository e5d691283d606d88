"""All SQL of the notifications domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.notifications.models import Notification, NotificationPreference


async def get(session: AsyncSession, notification_id: str, *, for_update: bool = False) -> Notification | None:
    query = select(Notification).where(Notification.id == notification_id).execution_options(
        populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def find(session: AsyncSession, *, event_key: str, channel: str) -> Notification | None:
    query = select(Notification).where(Notification.event_key == event_key, Notification.channel == channel)
    return (await session.execute(query)).scalar_one_or_none()


async def preferences_of(session: AsyncSession, user_id: str) -> NotificationPreference | None:
    return await session.get(NotificationPreference, user_id)


async def list_of(
    session: AsyncSession, *, user_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Notification]:
    query = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    if after is not None:
        created_at, notification_id = after
        query = query.where(or_(Notification.created_at < created_at,
                                and_(Notification.created_at == created_at, Notification.id < notification_id)))
    return list((await session.execute(query)).scalars().all())
