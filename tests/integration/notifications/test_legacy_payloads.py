"""Upgrading with notifications in the queue: a message recorded by a version before 0.11 carries
ids only; it is still sent once, with its data fetched through the owning domains' services."""

from __future__ import annotations

import httpx

from seawall.kit.clock import FakeClock
from seawall.notifications import service
from seawall.notifications.messages import PaymentReceipt, message_from_payload
from seawall.payments import service as payments
from seawall.runtime import Runtime
from seawall.sandbox.smtp import SmtpSink
from tests.integration.notifications.conftest import RunJobs
from tests.integration.notifications.wire import new_user, the_notification


async def test_an_ids_only_receipt_is_rendered_from_the_payment(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    async with runtime.database.transaction() as session:
        payment = await payments.create_payment(
            session, clock=fake_clock, user_id=user.id, amount=1234, currency="eur",
            payment_method="pm_card_visa", description="Order 7")
        [recorded] = await service.notify(session, PaymentReceipt(user_id=user.id, payment_id=payment.id),
                                          clock=fake_clock)
        assert recorded.payload == {"type": "payment_receipt", "user_id": user.id, "payment_id": payment.id}
        assert not message_from_payload(recorded.payload).carries_its_data

    await run_jobs()

    receipt = await the_notification(runtime, user.id, event_type="payment_receipt", channel="email")
    assert receipt.status == "sent"
    [mail] = [m for m in sink.messages if m.message_id.startswith(f"<{receipt.id}@")]
    assert mail.subject == "Your receipt: 12.34 EUR"
    assert "Order 7" in (mail.body("plain") or "")
