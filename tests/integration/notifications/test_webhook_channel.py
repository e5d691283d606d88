"""The webhook channel: a notification becomes a signed `notification.created` event at the user's
endpoint, delivered by the webhooks domain's own jobs, and judged at the receiver."""

from __future__ import annotations

import httpx

from seawall.runtime import Runtime
from seawall.sandbox.smtp import SmtpSink
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from tests.integration.accounts.wire import new_key
from tests.integration.notifications.wire import new_user, pay, put_preferences, the_notification
from tests.support.workers import RunJobs


async def test_a_receipt_for_a_webhook_user_arrives_as_one_notification_created_event(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, receiver: WebhookReceiverServer,
    run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    user = await new_user(client)
    created = await client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url("notes"), "event_types": ["notification.created"]},
        headers={**user.headers, "Idempotency-Key": new_key()})
    assert created.status_code == 201, created.text
    receiver.register("notes", created.json()["secret"])
    assert (await put_preferences(client, user, ["webhook"])).status_code == 200
    payment_id = await pay(client, user)

    await run_jobs()

    receipt = await the_notification(runtime, user.id, event_type="payment_receipt", channel="webhook")
    (received,) = receiver.received(name="notes")  # payment.succeeded is not subscribed: not sent
    assert received.verified, received.error
    assert received.payload["type"] == "notification.created"
    data = received.payload["data"]
    assert (data["notification_id"], data["type"], data["payment_id"]) == (receipt.id, "payment_receipt", payment_id)
    assert data["subject"] == "Your receipt: 20.00 USD" and payment_id in data["text"]
    assert (receipt.status, receipt.attempts, receipt.last_error) == ("sent", 1, None)
    assert receipt.provider_message_id is not None and receipt.provider_message_id.startswith("evt_")
    assert all("receipt" not in message.subject for message in sink.messages)  # not by email too

    await run_retries()
    assert len(receiver.received(name="notes")) == 1
