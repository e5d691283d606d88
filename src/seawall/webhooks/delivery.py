"""One delivery attempt, seen from the database: what to send, and what the answer changes.

`prepare_attempt` runs before the HTTP call in a short transaction of its own; `record_attempt` runs
after it in the job's completion transaction, under row locks on the endpoint and the delivery, and
re-checks that the attempt is still the one due (`attempts == number - 1`, status `pending`), so a
job that runs twice, or a replay racing a scheduled attempt, records at most one outcome per attempt
number. What an answer does:

    2xx                        delivery succeeded; the endpoint's failure streak ends
    410 Gone                   delivery failed; endpoint disabled, its pending deliveries failed
    429, 502, 503, 504         a failure (below), and the whole endpoint slows down until
                               Retry-After (or `throttle_seconds`, scaled)
    anything else, no answer   a failure: the next attempt follows the schedule (`schedule.py`),
                               not before Retry-After; after the last one the delivery failed
    failing since ≥ `disable_after_seconds` (no 2xx in between): endpoint disabled as for 410
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.kit.clock import Clock
from seawall.observability.commit_counts import count_on_commit
from seawall.webhooks import repository, schedule
from seawall.webhooks.config import WebhookSettings
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint
from seawall.webhooks.sender import AttemptResult
from seawall.webhooks.service import schedule_attempt
from seawall.webhooks.signing import event_body
from seawall.webhooks.state import (
    DeliveryStatus,
    EndpointStatus,
    check_delivery_transition,
    check_endpoint_transition,
)


@dataclass(frozen=True)
class PlannedAttempt:
    delivery_id: str
    number: int
    url: str
    secret: str = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Throttled:
    until: datetime


@dataclass(frozen=True)
class NothingToDo:
    reason: str


def _is_due(delivery: WebhookDelivery | None, number: int) -> bool:
    return delivery is not None and delivery.status == DeliveryStatus.PENDING and delivery.attempts == number - 1


async def prepare_attempt(session: AsyncSession, *, clock: Clock, delivery_id: str,
                          number: int) -> PlannedAttempt | Throttled | NothingToDo:
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None or not _is_due(delivery, number):
        return NothingToDo(f"attempt {number} of {delivery_id} is not due (deleted, settled or already made)")
    endpoint = await repository.get_endpoint(session, delivery.endpoint_id)
    event = await repository.get_event(session, delivery.event_id)
    if endpoint is None or event is None:
        return NothingToDo(f"the endpoint or event of {delivery_id} is gone")
    if endpoint.status != EndpointStatus.ACTIVE:
        delivery.status = check_delivery_transition(delivery.status, DeliveryStatus.FAILED)
        delivery.last_error = f"endpoint disabled: {endpoint.disabled_reason}"
        delivery.next_attempt_at = None
        return NothingToDo(f"endpoint {endpoint.id} is disabled")
    now = clock.now()
    if endpoint.throttled_until is not None and endpoint.throttled_until > now:
        delivery.next_attempt_at = max(delivery.next_attempt_at or now, endpoint.throttled_until)
        return Throttled(until=endpoint.throttled_until)
    return PlannedAttempt(
        delivery_id=delivery.id, number=number, url=endpoint.url, secret=endpoint.secret,
        body=event_body(event_type=event.type, occurred_at=event.created_at, data=event.payload),
    )


def _disable(endpoint: WebhookEndpoint, *, reason: str, now: datetime) -> None:
    endpoint.status = check_endpoint_transition(endpoint.status, EndpointStatus.DISABLED)
    endpoint.disabled_reason = reason
    endpoint.throttled_until = None
    endpoint.updated_at = now


async def record_attempt(session: AsyncSession, *, clock: Clock, settings: WebhookSettings, rng: random.Random,
                         delivery_id: str, number: int, result: AttemptResult) -> WebhookDelivery | None:
    """Apply one attempt's answer (see the table above); None when the attempt was no longer due."""
    found = await repository.get_delivery(session, delivery_id)
    if found is None:
        return None
    # Lock the endpoint before the delivery, as replay, recover and delete do: one lock order.
    endpoint = await repository.get_endpoint(session, found.endpoint_id, for_update=True)
    delivery = await repository.get_delivery(session, delivery_id, for_update=True)
    if endpoint is None or delivery is None or not _is_due(delivery, number):
        return None
    now = clock.now()
    delivery.attempts = number
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    delivery.next_attempt_at = None
    if result.succeeded:
        delivery.status = check_delivery_transition(delivery.status, DeliveryStatus.SUCCEEDED)
        delivery.delivered_at = now
        endpoint.failing_since = None
        await session.flush()
        return delivery

    endpoint.failing_since = endpoint.failing_since or now
    endpoint.updated_at = now
    disable_reason = None
    if result.status_code == 410:
        disable_reason = "the endpoint answered 410 Gone"
    elif now - endpoint.failing_since >= timedelta(seconds=settings.disable_after_seconds):
        disable_reason = f"every attempt failed since {endpoint.failing_since.isoformat()}"
    if disable_reason is not None and endpoint.status == EndpointStatus.ACTIVE:
        _disable(endpoint, reason=disable_reason, now=now)
        count_on_commit(session, "webhook_endpoints_disabled", key=endpoint.id)
        delivery.status = check_delivery_transition(delivery.status, DeliveryStatus.FAILED)
        await session.flush()
        await repository.fail_pending_deliveries(session, endpoint_id=endpoint.id,
                                                 reason=f"endpoint disabled: {disable_reason}")
        return delivery

    pause = schedule.throttle_delay(result.status_code, retry_after=result.retry_after,
                                    default_seconds=settings.throttle_seconds, scale=settings.schedule_scale,
                                    max_retry_after=settings.max_retry_after_seconds)
    if pause is not None and pause > 0:
        until = now + timedelta(seconds=pause)
        endpoint.throttled_until = max(endpoint.throttled_until or until, until)
        await repository.postpone_pending_deliveries(session, endpoint_id=endpoint.id, until=endpoint.throttled_until,
                                                     except_id=delivery.id)
    wait = schedule.next_retry_delay(
        delivery.attempts - delivery.schedule_start, retry_after=result.retry_after,
        scale=settings.schedule_scale, jitter=settings.schedule_jitter,
        max_retry_after=settings.max_retry_after_seconds, rng=rng)
    if wait is None:
        delivery.status = check_delivery_transition(delivery.status, DeliveryStatus.FAILED)
        await session.flush()
        return delivery
    run_at = now + timedelta(seconds=max(wait, pause or 0.0))
    delivery.next_attempt_at = run_at
    await session.flush()
    await schedule_attempt(session, clock=clock, delivery=delivery, run_at=run_at)
    return delivery
