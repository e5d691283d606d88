"""What the security tests share: users, a captured payment, a webhook endpoint with a delivery, and
the routes the app mounts (read from the app itself, so a new route is seen without editing a list)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from seawall.kit.clock import SystemClock
from seawall.payments import settlement
from seawall.payments.models import Refund
from seawall.runtime import Runtime
from seawall.webhooks.models import WebhookDelivery
from tests.integration.accounts.wire import new_email, new_key
from tests.integration.notifications.wire import User
from tests.integration.notifications.wire import new_user as signed_up_user

PUBLIC_HOOK_URL = "https://93.184.216.34/hooks"  # a global address literal: the URL guard needs no DNS


@dataclass(frozen=True)
class Owned:
    """What one user owns: a captured payment, a webhook endpoint and one delivery to it."""

    user: User
    payment_id: str
    endpoint_id: str
    delivery_id: str


async def new_user(client: httpx.AsyncClient, name: str = "sec") -> User:
    """A free sign-up, logged in (the notifications tests' `new_user`, named for these tests)."""
    return await signed_up_user(client, new_email(name))


def with_key(user: User) -> dict[str, str]:
    return {**user.headers, "Idempotency-Key": new_key()}


async def captured_payment(client: httpx.AsyncClient, runtime: Runtime, user: User, amount: int = 2500) -> str:
    """A payment of `user`, settled as succeeded as the charge job would (no provider involved)."""
    response = await client.post("/v1/payments", headers=with_key(user),
                                 json={"amount": amount, "currency": "usd", "payment_method": "pm_card_visa"})
    assert response.status_code == 202, response.text
    payment_id = str(response.json()["id"])
    async with runtime.database.transaction() as session:
        await settlement.settle_succeeded(session, clock=SystemClock(), payment_id=payment_id,
                                          intent_id=f"pi_{payment_id}")
    return payment_id


async def owned_objects(client: httpx.AsyncClient, runtime: Runtime, name: str = "owner") -> Owned:
    """A user with an endpoint, then a captured payment whose `payment.succeeded` queued a delivery."""
    user = await new_user(client, name)
    created = await client.post("/v1/webhook-endpoints", headers=with_key(user),
                                json={"url": PUBLIC_HOOK_URL, "event_types": ["payment.succeeded"]})
    assert created.status_code == 201, created.text
    endpoint_id = str(created.json()["id"])
    payment_id = await captured_payment(client, runtime, user)
    async with runtime.database.transaction() as session:
        delivery_id = (await session.execute(
            select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id))).scalar_one()
    return Owned(user=user, payment_id=payment_id, endpoint_id=endpoint_id, delivery_id=str(delivery_id))


async def refund_count(runtime: Runtime, payment_id: str) -> int:
    async with runtime.database.transaction() as session:
        return int((await session.execute(
            select(func.count()).select_from(Refund).where(Refund.payment_id == payment_id))).scalar_one())


def mounted_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every (METHOD, path template) the app routes, HEAD (Starlette's automatic twin of GET) left out."""
    operations: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):  # through included routers, with their prefixes
        assert route.path is not None, route
        operations |= {(method, route.path) for method in (route.methods or ()) if method != "HEAD"}
    return operations


def documented_operations(schema: dict[str, object]) -> set[tuple[str, str]]:
    paths = schema.get("paths", {})
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}
