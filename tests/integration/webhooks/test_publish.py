"""Promise: publishing is part of the publisher's transaction — the event, its deliveries and their
jobs commit or roll back with the publisher's own change — and a keyed publish happens once."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from seawall.jobs.models import Job
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.webhooks import service
from seawall.webhooks.errors import UnknownEventTypeError
from seawall.webhooks.models import WebhookDelivery, WebhookEvent
from tests.integration.webhooks.wire import create_endpoint, new_user


class PublisherFailed(Exception):
    pass


async def _counts(runtime: Runtime) -> tuple[int, int, int]:
    async with runtime.database.transaction() as session:
        counted = [int((await session.execute(select(func.count()).select_from(model))).scalar_one())
                   for model in (WebhookEvent, WebhookDelivery)]
        counted.append(int((await session.execute(
            select(func.count()).select_from(Job).where(Job.kind == "webhooks.deliver"))).scalar_one()))
    return counted[0], counted[1], counted[2]


async def test_a_rolled_back_publisher_leaves_no_event_and_no_job(
    client: httpx.AsyncClient, worker_runtime: Runtime, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    assert (await create_endpoint(client, user, "http://127.0.0.1:9/hook")).status_code == 201
    with pytest.raises(PublisherFailed):
        async with worker_runtime.database.transaction() as session:
            await service.publish_event(session, clock=fake_clock, user_id=user.id, event_type="payment.failed",
                                        data={"payment_id": "pay_1"})
            raise PublisherFailed  # e.g. the settlement that published it failed after
    assert await _counts(worker_runtime) == (0, 0, 0)

    async with worker_runtime.database.transaction() as session:
        await service.publish_event(session, clock=fake_clock, user_id=user.id, event_type="payment.failed",
                                    data={"payment_id": "pay_1"})
    assert await _counts(worker_runtime) == (1, 1, 1)


async def test_a_keyed_publish_happens_once(
    client: httpx.AsyncClient, worker_runtime: Runtime, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    assert (await create_endpoint(client, user, "http://127.0.0.1:9/hook")).status_code == 201
    events = []
    for _ in range(2):
        async with worker_runtime.database.transaction() as session:
            events.append(await service.publish_event(
                session, clock=fake_clock, user_id=user.id, event_type="payment.succeeded",
                data={"payment_id": "pay_2"}, dedup_key="payment.succeeded:pay_2"))
    assert events[0].id == events[1].id
    assert await _counts(worker_runtime) == (1, 1, 1)


async def test_unknown_event_types_are_a_publisher_bug(worker_runtime: Runtime, fake_clock: FakeClock) -> None:
    with pytest.raises(UnknownEventTypeError):
        async with worker_runtime.database.transaction() as session:
            await service.publish_event(session, clock=fake_clock, user_id="usr_x", event_type="user.created",
                                        data={})
