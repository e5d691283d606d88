"""The fake Stripe's webhook sender, judged by a receiver that verifies what it gets with Seawall's
verifier: events in Stripe's shape, signed with every configured secret, retried after a non-2xx,
and its faults (a bad first signature, duplicates, held events released newest first)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from seawall.providers import StripeProvider
from seawall.providers.stripe_events import SignatureVerificationError, parse_event, verify_signature
from seawall.sandbox import SandboxServer
from seawall.sandbox.embedded import EmbeddedHttpServer

SECRET = "whsec_sandbox_test"


class Received:
    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0


@pytest.fixture
async def stripe_receiver() -> AsyncIterator[tuple[EmbeddedHttpServer, Received]]:
    received = Received()
    app = FastAPI()

    @app.post("/events")
    async def events(request: Request) -> Response:
        body = await request.body()
        try:
            verify_signature(body, request.headers.get("stripe-signature"), [SECRET], now=time.time())
        except SignatureVerificationError:
            received.refused += 1
            return Response(status_code=400)
        event = parse_event(body)
        received.accepted.append({"id": event.id, "type": event.type, "object": dict(event.object)})
        return Response(status_code=200)

    server = EmbeddedHttpServer(app, host="127.0.0.1", port=0, name="test receiver")
    await server.serve()
    try:
        yield server, received
    finally:
        await server.stop()


async def charge(sandbox: SandboxServer, payment_method: str = "pm_card_visa") -> str:
    async with StripeProvider(api_key="sk_test_x", api_base=sandbox.base_url) as stripe:
        try:
            intent = await stripe.create_payment_intent(
                amount=1000, currency="usd", payment_method=payment_method, idempotency_key=f"k{time.time_ns()}",
                metadata={"seawall_payment_id": "pay_x"})
        except Exception:  # a decline: the event is what this test looks at
            return ""
        return intent.id


async def test_events_are_signed_as_stripe_signs_and_retried_after_a_refusal(
    sandbox: SandboxServer, stripe_receiver: tuple[EmbeddedHttpServer, Received],
) -> None:
    server, received = stripe_receiver
    sandbox.set_stripe_webhooks(url=f"{server.base_url}/events", secrets=[SECRET], retry_interval_seconds=0.01,
                                faults={"bad_signature_rate": 1.0})
    intent_id = await charge(sandbox)
    await charge(sandbox, "pm_card_chargeDeclined")
    async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
        assert (await admin.post(f"/_sandbox/payments/intents/{intent_id}/dashboard_refund",
                                 json={"amount": 400})).status_code == 200
        assert (await admin.post(f"/_sandbox/payments/intents/{intent_id}/dispute")).status_code == 200
        shown = (await admin.get("/_sandbox/stripe/webhooks")).json()
    await sandbox.state.stripe_webhooks.idle()

    by_type = {e["type"]: e["object"] for e in received.accepted}
    assert len(received.accepted) == 4 and set(by_type) == {
        "payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "charge.dispute.created"}
    assert received.refused == 4  # every first attempt, signed with a wrong secret
    refunded = by_type["charge.refunded"]
    assert (refunded["payment_intent"], refunded["amount_refunded"]) == (intent_id, 400)
    assert [r["amount"] for r in refunded["refunds"]["data"]] == [400]
    dispute = by_type["charge.dispute.created"]
    assert dispute["payment_intent"] == intent_id and dispute["balance_transactions"][0]["amount"] == -1000
    assert len(shown["events"]) == 4


async def test_duplicates_and_held_events_released_out_of_order(
    sandbox: SandboxServer, stripe_receiver: tuple[EmbeddedHttpServer, Received],
) -> None:
    server, received = stripe_receiver
    sandbox.set_stripe_webhooks(url=f"{server.base_url}/events", secrets=["whsec_old", SECRET], hold=True,
                                faults={"duplicate_rate": 1.0})
    intent_id = await charge(sandbox)
    async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
        await admin.post(f"/_sandbox/payments/intents/{intent_id}/dashboard_refund")
        assert received.accepted == []  # held
        released = await admin.post("/_sandbox/stripe/webhooks/release", json={"order": "reverse"})
        assert released.json() == {"released": 2}
    await sandbox.state.stripe_webhooks.idle()

    assert [e["type"] for e in received.accepted] == ["charge.refunded", "charge.refunded",
                                                      "payment_intent.succeeded", "payment_intent.succeeded"]
    assert len({e["id"] for e in received.accepted}) == 2  # each delivered twice under its one id
    assert json.loads(json.dumps(received.accepted[0]["object"]))["refunded"] is True
