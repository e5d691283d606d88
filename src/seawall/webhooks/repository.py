"""All SQL of the webhooks domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.kit.repository import Repository
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from seawall.webhooks.state import DeliveryStatus, EndpointStatus

endpoints = Repository(WebhookEndpoint, id_prefix="we_")
deliveries = Repository(WebhookDelivery, id_prefix="msg_")
get_endpoint = endpoints.get
get_delivery = deliveries.get


# -- endpoints ------------------------------------------------------------------------------------

async def count_endpoints_of(session: AsyncSession, *, user_id: str) -> int:
    query = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    return int((await session.execute(query)).scalar_one())


async def list_endpoints_of(session: AsyncSession, *, user_id: str, limit: int, cursor: str | None
                            ) -> tuple[list[WebhookEndpoint], str | None]:
    """A user's endpoints, newest first: one keyset page and the next page's cursor."""
    return await endpoints.page(session, where=[WebhookEndpoint.user_id == user_id], limit=limit, cursor=cursor)


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

async def list_deliveries_of(session: AsyncSession, *, endpoint_id: str, status: str | None, limit: int,
                             cursor: str | None) -> tuple[list[WebhookDelivery], str | None]:
    """An endpoint's deliveries (only those in `status`, when given), newest first: one keyset page
    and the next page's cursor."""
    conditions = [WebhookDelivery.endpoint_id == endpoint_id]
    if status is not None:
        conditions.append(WebhookDelivery.status == status)
    return await deliveries.page(session, where=conditions, limit=limit, cursor=cursor)


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
