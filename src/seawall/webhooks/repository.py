"""All SQL of the webhooks domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from seawall.webhooks.state import DeliveryStatus, EndpointStatus

Keyset = tuple[datetime, str]


def _newest_first_after(model: Any, after: Keyset | None) -> Any:
    """Keyset condition for (created_at, id) descending."""
    if after is None:
        return true()
    created_at, row_id = after
    return or_(model.created_at < created_at, and_(model.created_at == created_at, model.id < row_id))


# -- endpoints ------------------------------------------------------------------------------------

async def get_endpoint(session: AsyncSession, endpoint_id: str, *, for_update: bool = False) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def count_endpoints_of(session: AsyncSession, *, user_id: str) -> int:
    query = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    return int((await session.execute(query)).scalar_one())


async def list_endpoints_of(session: AsyncSession, *, user_id: str, limit: int,
                            after: Keyset | None) -> list[WebhookEndpoint]:
    """Newest first; keyset pagination on (created_at, id)."""
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.user_id == user_id, _newest_first_after(WebhookEndpoint, after))
        .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


async def active_endpoints_of(session: AsyncSession, *, user_id: str) -> list[WebhookEndpoint]:
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.user_id == user_id, WebhookEndpoint.status == EndpointStatus.ACTIVE)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list((await session.execute(query)).scalars().all())


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Deletes its deliveries too (ON DELETE CASCADE); their queued jobs then find nothing to do."""
    await session.delete(endpoint)
    await session.flush()


# -- events ---------------------------------------------------------------------------------------

async def get_event(session: AsyncSession, event_id: str) -> WebhookEvent | None:
    return await session.get(WebhookEvent, event_id)


async def find_event_by_dedup_key(session: AsyncSession, dedup_key: str) -> WebhookEvent | None:
    query = select(WebhookEvent).where(WebhookEvent.dedup_key == dedup_key)
    return (await session.execute(query)).scalar_one_or_none()


# -- deliveries -----------------------------------------------------------------------------------

async def get_delivery(session: AsyncSession, delivery_id: str, *, for_update: bool = False
                       ) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_deliveries_of(session: AsyncSession, *, endpoint_id: str, status: str | None, limit: int,
                             after: Keyset | None) -> list[WebhookDelivery]:
    """Newest first; keyset pagination on (created_at, id)."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, _newest_first_after(WebhookDelivery, after))
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list((await session.execute(query)).scalars().all())


async def failed_deliveries_since(session: AsyncSession, *, endpoint_id: str, since: datetime,
                                  limit: int) -> list[WebhookDelivery]:
    """Oldest first, locked (PostgreSQL) so two recoveries cannot pick the same rows."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.FAILED,
               WebhookDelivery.created_at >= since)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars().all())


async def fail_pending_deliveries(session: AsyncSession, *, endpoint_id: str, reason: str) -> int:
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, last_error=reason, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def postpone_pending_deliveries(session: AsyncSession, *, endpoint_id: str, until: datetime,
                                      except_id: str) -> int:
    """Show the endpoint's slow-down on its other waiting deliveries (their jobs defer when they wake)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.PENDING,
               WebhookDelivery.id != except_id,
               or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at < until))
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
