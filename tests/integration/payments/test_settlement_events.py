"""Settlement announces `PaymentSucceeded`; its subscribers (accounts, notifications, webhooks) act in
the same transaction, and a failing subscriber rolls the whole settlement back: no half-settled
payment, no receipt without a ledger entry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from seawall.events import bus
from seawall.kit.clock import Clock
from seawall.notifications.models import Notification
from seawall.payments import repository, settlement
from seawall.payments.events import PaymentSucceeded
from seawall.payments.models import LedgerEntry
from seawall.runtime import Runtime
from seawall.webhooks.models import WebhookEvent
from tests.integration.payments.flow import post_payment


class SubscriberBroke(Exception):
    pass


async def effects_of(runtime: Runtime, payment_id: str) -> dict[str, Any]:
    async with runtime.database.read_transaction() as session:
        payment = await repository.get_payment(session, payment_id)
        assert payment is not None
        receipts = await session.scalar(select(func.count()).select_from(Notification).where(
            Notification.event_key == f"payment_receipt:{payment_id}"))
        webhook_events = await session.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.dedup_key == f"payment.succeeded:{payment_id}"))
        ledger = await session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.payment_id == payment_id))
    return {"status": payment.status, "receipts": receipts, "webhook_events": webhook_events, "ledger": ledger}


async def test_a_failing_subscriber_rolls_the_settlement_back(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str],
) -> None:
    payment_id = (await post_payment(client, auth))["id"]

    async def broken(session: Any, event: PaymentSucceeded, *, clock: Clock) -> None:
        raise SubscriberBroke(event.payment_id)

    bus.subscriber(PaymentSucceeded)(broken)
    try:
        with pytest.raises(SubscriberBroke):
            async with runtime.database.transaction() as session:
                await settlement.settle_succeeded(session, clock=runtime.clock, payment_id=payment_id,
                                                  intent_id="pi_test_rollback")
    finally:
        bus.unsubscribe(PaymentSucceeded, broken)

    assert await effects_of(runtime, payment_id) == {"status": "pending", "receipts": 0, "webhook_events": 0,
                                                     "ledger": 0}

    async with runtime.database.transaction() as session:
        assert await settlement.settle_succeeded(session, clock=runtime.clock, payment_id=payment_id,
                                                 intent_id="pi_test_rollback")
    settled = await effects_of(runtime, payment_id)
    assert settled["status"] == "succeeded" and settled["ledger"] > 0
    assert (settled["receipts"], settled["webhook_events"]) == (1, 1)

    async with runtime.database.transaction() as session:  # settling again announces nothing
        assert not await settlement.settle_succeeded(session, clock=runtime.clock, payment_id=payment_id,
                                                     intent_id="pi_test_rollback")
    assert await effects_of(runtime, payment_id) == settled
