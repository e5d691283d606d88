"""Webhooks use cases. Services flush; the request or job boundary commits.

- `publish_event` records a webhook event (called by `subscribers` when another domain announces a
  change, and by the webhook notification channel): inside the caller's transaction it writes the event,
  one delivery per active endpoint of that user subscribed to the type, and one `webhooks.deliver`
  job per delivery, so the event is sent if and only if their change commits.
- Endpoints belong to one user; another user's endpoint (and its deliveries) does not exist for you
  (404). URLs pass the SSRF guard when created (and again before every attempt).
- Replay sends one delivery again and recover sends every failed delivery of an endpoint since a
  time; either puts the delivery back to `pending` on a fresh retry schedule, with the same id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import contested_insert
from seawall.errors import BadRequestError
from seawall.jobs import enqueue
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.webhooks import repository
from seawall.webhooks.catalogue import EVENT_TYPES
from seawall.webhooks.errors import (
    UnknownEventTypeError,
    WebhookDeliveryNotFoundError,
    WebhookEndpointDisabledError,
    WebhookEndpointLimitError,
    WebhookEndpointNotFoundError,
)
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from seawall.webhooks.signing import generate_secret
from seawall.webhooks.ssrf import UrlGuard
from seawall.webhooks.state import DeliveryStatus, EndpointStatus, check_delivery_transition

DELIVER_JOB = "webhooks.deliver"
RECOVER_BATCH = 1000


def deliver_dedup_key(delivery_id: str, attempt: int) -> str:
    return f"{DELIVER_JOB}:{delivery_id}:{attempt}"


async def schedule_attempt(session: AsyncSession, *, clock: Clock, delivery: WebhookDelivery, run_at: datetime,
                           dedup: bool = True) -> None:
    """Queue the job for the delivery's next attempt (number `attempts + 1`)."""
    attempt = delivery.attempts + 1
    await enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id, "attempt": attempt}, run_at=run_at,
                  dedup_key=deliver_dedup_key(delivery.id, attempt) if dedup else None, clock=clock)


# -- publishing -----------------------------------------------------------------------------------

async def publish_event(session: AsyncSession, *, clock: Clock, user_id: str, event_type: str, data: dict[str, Any],
                        dedup_key: str | None = None) -> WebhookEvent:
    """Record an event for `user_id` and queue its deliveries, in the caller's transaction.

    `data` must be JSON (ids and values, no objects). With `dedup_key` (e.g. `payment.succeeded:pay_1`)
    a second publish with the same key returns the first event and queues nothing.
    """
    if event_type not in EVENT_TYPES:
        raise UnknownEventTypeError(f"unknown webhook event type {event_type!r}")
    if dedup_key is not None:
        existing = await repository.find_event_by_dedup_key(session, dedup_key)
        if existing is not None:
            return existing
    now = clock.now()
    event = WebhookEvent(id=new_id("evt"), user_id=user_id, type=event_type, payload=data, dedup_key=dedup_key,
                         created_at=now)
    if dedup_key is None:
        session.add(event)
    else:
        try:
            async with contested_insert(session):
                session.add(event)
        except IntegrityError:  # a concurrent publish with the same key committed first
            existing = await repository.find_event_by_dedup_key(session, dedup_key)
            if existing is None:
                raise
            return existing
    for endpoint in await repository.active_endpoints_of(session, user_id=user_id):
        if event_type not in endpoint.event_types:
            continue
        delivery = WebhookDelivery(id=new_id("msg"), event_id=event.id, endpoint_id=endpoint.id,
                                   status=DeliveryStatus.PENDING, attempts=0, schedule_start=0,
                                   next_attempt_at=now, created_at=now)
        session.add(delivery)
        await session.flush()
        await schedule_attempt(session, clock=clock, delivery=delivery, run_at=now)
    await session.flush()
    return event


# -- endpoints ------------------------------------------------------------------------------------

async def create_endpoint(session: AsyncSession, *, clock: Clock, guard: UrlGuard, max_endpoints: int, user_id: str,
                          url: str, event_types: Sequence[str]) -> WebhookEndpoint:
    """A new active endpoint with a fresh signing secret (`endpoint.secret`: show it once)."""
    await guard.check(url)  # DNS before the first query: no database lock is held meanwhile
    if await repository.count_endpoints_of(session, user_id=user_id) >= max_endpoints:
        raise WebhookEndpointLimitError(f"an account can have at most {max_endpoints} webhook endpoints")
    now = clock.now()
    endpoint = WebhookEndpoint(
        id=new_id("we"), user_id=user_id, url=url, event_types=list(event_types), secret=generate_secret(),
        status=EndpointStatus.ACTIVE, created_at=now, updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get_endpoint_of(session: AsyncSession, *, user_id: str, endpoint_id: str,
                          for_update: bool = False) -> WebhookEndpoint:
    """Object-level authorization: another user's endpoint does not exist for you (404)."""
    endpoint = await repository.get_endpoint(session, endpoint_id, for_update=for_update)
    if endpoint is None or endpoint.user_id != user_id:
        raise WebhookEndpointNotFoundError(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def list_endpoints_of(session: AsyncSession, *, user_id: str, limit: int, cursor: str | None
                            ) -> tuple[list[WebhookEndpoint], str | None]:
    return await repository.list_endpoints_of(session, user_id=user_id, limit=limit, cursor=cursor)


async def delete_endpoint_of(session: AsyncSession, *, user_id: str, endpoint_id: str) -> None:
    """Deletes the endpoint, its secret and its deliveries; nothing more is sent to it."""
    endpoint = await get_endpoint_of(session, user_id=user_id, endpoint_id=endpoint_id, for_update=True)
    await repository.delete_endpoint(session, endpoint)


# -- deliveries -----------------------------------------------------------------------------------

async def list_deliveries_of(session: AsyncSession, *, user_id: str, endpoint_id: str, status: str | None,
                             limit: int, cursor: str | None) -> tuple[list[WebhookDelivery], str | None]:
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        allowed = ", ".join(s.value for s in DeliveryStatus)
        raise BadRequestError(f"status must be one of {allowed}", details={"status": status})
    await get_endpoint_of(session, user_id=user_id, endpoint_id=endpoint_id)
    return await repository.list_deliveries_of(session, endpoint_id=endpoint_id, status=status, limit=limit,
                                               cursor=cursor)


async def get_delivery_of(session: AsyncSession, *, user_id: str, endpoint_id: str, delivery_id: str,
                          for_update: bool = False) -> WebhookDelivery:
    await get_endpoint_of(session, user_id=user_id, endpoint_id=endpoint_id)
    delivery = await repository.get_delivery(session, delivery_id, for_update=for_update)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise WebhookDeliveryNotFoundError(f"no delivery {delivery_id} for webhook endpoint {endpoint_id}")
    return delivery


async def _require_active(session: AsyncSession, *, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await get_endpoint_of(session, user_id=user_id, endpoint_id=endpoint_id, for_update=True)
    if endpoint.status != EndpointStatus.ACTIVE:
        raise WebhookEndpointDisabledError(
            f"webhook endpoint {endpoint_id} is disabled ({endpoint.disabled_reason}); nothing can be sent to it")
    return endpoint


def _send_again(delivery: WebhookDelivery, *, now: datetime) -> None:
    delivery.status = check_delivery_transition(delivery.status, DeliveryStatus.PENDING)
    delivery.schedule_start = delivery.attempts
    delivery.next_attempt_at = now


async def replay_delivery(session: AsyncSession, *, clock: Clock, user_id: str, endpoint_id: str,
                          delivery_id: str) -> WebhookDelivery:
    """Send one delivery again now (whatever its status), with the same `webhook-id`."""
    await _require_active(session, user_id=user_id, endpoint_id=endpoint_id)
    delivery = await get_delivery_of(session, user_id=user_id, endpoint_id=endpoint_id, delivery_id=delivery_id,
                                     for_update=True)
    now = clock.now()
    _send_again(delivery, now=now)
    await session.flush()
    # No dedup key: a pending delivery may already have a job for this attempt number; whichever
    # runs first makes the attempt and the other finds it made. The Idempotency-Key guards repeats.
    await schedule_attempt(session, clock=clock, delivery=delivery, run_at=now, dedup=False)
    return delivery


async def recover_deliveries(session: AsyncSession, *, clock: Clock, user_id: str, endpoint_id: str,
                             since: datetime) -> tuple[int, bool]:
    """Send again every failed delivery created at or after `since`, oldest first, up to
    `RECOVER_BATCH` per call: (how many, whether more are left — call again)."""
    await _require_active(session, user_id=user_id, endpoint_id=endpoint_id)
    rows = await repository.failed_deliveries_since(session, endpoint_id=endpoint_id, since=since,
                                                    limit=RECOVER_BATCH + 1)
    now = clock.now()
    batch = rows[:RECOVER_BATCH]
    for delivery in batch:
        _send_again(delivery, now=now)
    await session.flush()
    for delivery in batch:
        await schedule_attempt(session, clock=clock, delivery=delivery, run_at=now, dedup=False)
    return len(batch), len(rows) > RECOVER_BATCH
