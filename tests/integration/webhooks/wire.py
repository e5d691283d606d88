"""What the webhooks tests send and read: users, endpoints, events, and rows seen by the worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from seawall.jobs.models import Job
from seawall.kit.clock import Clock
from seawall.runtime import Runtime
from seawall.webhooks import repository, service
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.integration.accounts.wire import bearer, new_email, new_key, sign_up, token_for

ALL_TYPES = ["payment.failed", "payment.succeeded", "refund.created"]


@dataclass(frozen=True)
class User:
    id: str
    headers: dict[str, str]


async def new_user(client: httpx.AsyncClient, name: str = "hooks") -> User:
    email = new_email(name)
    response = await sign_up(client, email)
    assert response.status_code == 201, response.text
    headers = bearer(await token_for(client, email))
    me = await client.get("/v1/me", headers=headers)
    return User(id=me.json()["id"], headers=headers)


async def create_endpoint(client: httpx.AsyncClient, user: User, url: str, event_types: list[str] | None = None,
                          *, key: str | None = None) -> httpx.Response:
    return await client.post("/v1/webhook-endpoints", json={"url": url, "event_types": event_types or ALL_TYPES},
                             headers={**user.headers, "Idempotency-Key": key or new_key()})


async def endpoint_with_secret(client: httpx.AsyncClient, user: User, url: str,
                               event_types: list[str] | None = None) -> tuple[str, str]:
    response = await create_endpoint(client, user, url, event_types)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["secret"]


async def publish(runtime: Runtime, clock: Clock, user: User, event_type: str = "payment.succeeded",
                  data: dict[str, Any] | None = None) -> list[WebhookDelivery]:
    """Publish as another domain would, in its own transaction; the deliveries it queued."""
    async with runtime.database.transaction() as session:
        event = await service.publish_event(session, clock=clock, user_id=user.id, event_type=event_type,
                                            data=data or {"payment_id": "pay_test", "amount": 1999})
    async with runtime.database.transaction() as session:
        rows = await session.execute(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
        return list(rows.scalars().all())


async def delivery(runtime: Runtime, delivery_id: str) -> WebhookDelivery:
    async with runtime.database.transaction() as session:
        found = await repository.get_delivery(session, delivery_id)
    assert found is not None
    return found


async def endpoint(runtime: Runtime, endpoint_id: str) -> WebhookEndpoint:
    async with runtime.database.transaction() as session:
        found = await repository.get_endpoint(session, endpoint_id)
    assert found is not None
    return found


async def deliver_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.database.transaction() as session:
        rows = await session.execute(select(Job).where(Job.kind == "webhooks.deliver").order_by(Job.id))
        return list(rows.scalars().all())


def replay_headers(user: User) -> dict[str, str]:
    return {**user.headers, "Idempotency-Key": new_key()}
