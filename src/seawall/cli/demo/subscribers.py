"""The demo's webhook subscribers: users with an endpoint on an in-process receiver that verifies
every delivery's Standard Webhooks signature, who make payments and refunds of their own."""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seawall.cli.demo.workload import ApiClient, DemoUser, bearer, log_in

if TYPE_CHECKING:  # the sandbox is loaded only by the commands that start it
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer

EVENT_TYPES = ["payment.succeeded", "payment.failed", "refund.created"]


@dataclass
class Subscriber:
    user: DemoUser
    name: str
    endpoint_id: str | None = None
    payment_ids: list[str] = field(default_factory=list)
    refund_ids: list[str] = field(default_factory=list)


async def create_subscriber(api: ApiClient, receiver: WebhookReceiverServer, index: int) -> Subscriber:
    run = secrets.token_hex(3)
    user = DemoUser(index=10_000 + index, email=f"hooks-{run}-{index}@example.com",
                    password=f"hooks-password-{secrets.token_hex(6)}", plan="", card="pm_card_visa",
                    signup_key=f"hooks-{run}-{index}")
    await api.call("POST", "/v1/signups", route="POST /v1/signups", headers={"Idempotency-Key": user.signup_key},
                   json={"email": user.email, "password": user.password})
    await log_in(api, user)
    subscriber = Subscriber(user=user, name=f"subscriber-{index}")
    response = await api.call("POST", "/v1/webhook-endpoints", route="POST /v1/webhook-endpoints",
                              headers={**bearer(user), "Idempotency-Key": f"{user.signup_key}-endpoint"},
                              json={"url": receiver.url(subscriber.name), "event_types": EVENT_TYPES})
    if response.status_code == 201:
        body = response.json()
        subscriber.endpoint_id = body["id"]
        receiver.register(subscriber.name, body["secret"])
    return subscriber


async def pay(api: ApiClient, subscriber: Subscriber, *, count: int) -> None:
    """`count` payments at once, every fifth with a card that is declined."""
    async def one(number: int) -> str | None:
        card = "pm_card_chargeDeclined" if number % 5 == 4 else "pm_card_visa"
        response = await api.call(
            "POST", "/v1/payments", route="POST /v1/payments",
            headers={**bearer(subscriber.user), "Idempotency-Key": f"{subscriber.user.signup_key}-pay-{number}"},
            json={"amount": 1500 + number, "currency": "usd", "payment_method": card,
                  "description": f"order {number}"})
        return str(response.json()["id"]) if response.status_code == 202 else None

    paid = await asyncio.gather(*(one(number) for number in range(count)))
    subscriber.payment_ids.extend(payment_id for payment_id in paid if payment_id is not None)


async def refund_some(api: ApiClient, subscriber: Subscriber) -> None:
    response = await api.call("GET", "/v1/payments", route="GET /v1/payments", headers=bearer(subscriber.user),
                              params={"limit": 100})
    captured = [p for p in response.json()["data"] if p["status"] == "succeeded"][:2]
    for payment in captured:
        refund = await api.call(
            "POST", f"/v1/payments/{payment['id']}/refunds", route="POST /v1/payments/{id}/refunds",
            headers={**bearer(subscriber.user), "Idempotency-Key": f"refund-{payment['id']}"},
            json={"amount": payment["amount"] // 3})
        if refund.status_code == 202:
            subscriber.refund_ids.append(refund.json()["id"])


def expected_events(subscriber: Subscriber, payments: list[dict[str, Any]]) -> set[tuple[str, str]]:
    expected = set()
    for payment in payments:
        if payment["id"] not in subscriber.payment_ids:
            continue
        expected.add(("payment.failed" if payment["status"] == "failed" else "payment.succeeded", payment["id"]))
    expected |= {("refund.created", refund_id) for refund_id in subscriber.refund_ids}
    return expected


def webhook_findings(receiver: WebhookReceiverServer, subscribers: list[Subscriber],
                     payments_by_subscriber: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Verified signatures, every expected event delivered, and redeliveries sharing their webhook-id."""
    unverified = 0
    missing: list[str] = []
    received_events = 0
    redeliveries = 0
    for subscriber in subscribers:
        deliveries = receiver.received(name=subscriber.name)
        unverified += sum(1 for d in deliveries if not d.verified)
        seen: set[tuple[str, str]] = set()
        bodies_by_id: dict[str, set[str]] = defaultdict(set)
        for delivery in deliveries:
            if not delivery.verified or delivery.webhook_id is None:
                continue
            bodies_by_id[delivery.webhook_id].add(delivery.body)
            if delivery.answered // 100 != 2:
                continue
            payload = delivery.payload
            data = payload.get("data", {})
            key = data.get("refund_id") if payload.get("type") == "refund.created" else data.get("payment_id")
            seen.add((payload.get("type"), key))
        redeliveries += sum(len(d) - 1 for d in [receiver.received(w, name=subscriber.name)
                                                 for w in bodies_by_id] if len(d) > 1)
        received_events += len(seen)
        expected = expected_events(subscriber, payments_by_subscriber.get(subscriber.name, []))
        missing += [f"{kind} {key}" for kind, key in sorted(expected - seen)]
    return {"unverified": unverified, "missing": missing, "events_delivered": received_events,
            "redeliveries": redeliveries}
