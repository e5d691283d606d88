"""SMS notifications through the sandbox's fake Twilio, and the preferences that choose channels.

Promise: a user who chose email and SMS gets a receipt once on each, the SMS carrying the
notification id as its idempotency key; a 500 from the provider is retried into exactly one
text; preferences are validated at the edge and default to email.
"""

from __future__ import annotations

import httpx

from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from tests.integration.accounts.wire import assert_error
from tests.integration.notifications.wire import (
    PHONE,
    attempt_outcomes,
    message_id_of,
    new_user,
    pay,
    put_preferences,
    send_job,
    the_notification,
)
from tests.support.workers import RunJobs


async def test_preferences_default_to_email(client: httpx.AsyncClient) -> None:
    user = await new_user(client)

    response = await client.get("/v1/me/notification-preferences", headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"channels": ["email"], "phone_number": None}
    assert_error(await client.get("/v1/me/notification-preferences"), 401)
    assert_error(await client.put("/v1/me/notification-preferences", json={"channels": ["email"]}), 401)


async def test_preferences_are_replaced_deduplicated_and_read_back(client: httpx.AsyncClient) -> None:
    user = await new_user(client)

    response = await put_preferences(client, user, ["sms", "email", "sms"], PHONE)

    assert response.status_code == 200, response.text
    assert response.json() == {"channels": ["email", "sms"], "phone_number": PHONE}
    read = await client.get("/v1/me/notification-preferences", headers=user.headers)
    assert read.json() == {"channels": ["email", "sms"], "phone_number": PHONE}
    replaced = await put_preferences(client, user, ["webhook"])
    assert replaced.json() == {"channels": ["webhook"], "phone_number": None}


async def test_invalid_preferences_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    refused = [
        {"channels": ["email", "sms"], "phone_number": "555-1234"},  # not E.164
        {"channels": ["email", "sms"], "phone_number": "+0123456789"},  # E.164 has no leading 0
        {"channels": ["email", "pigeon"]},  # no such channel
        {"channels": []},
        {"channels": ["email"], "fax": "+15551234567"},  # unknown field
        {"phone_number": PHONE},  # channels are required
    ]

    for body in refused:
        response = await client.put("/v1/me/notification-preferences", json=body, headers=user.headers)
        assert_error(response, 422, "validation_error")

    read = await client.get("/v1/me/notification-preferences", headers=user.headers)
    assert read.json() == {"channels": ["email"], "phone_number": None}


async def test_a_receipt_goes_once_by_email_and_once_by_sms(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink, run_jobs: RunJobs,
    run_retries: RunJobs,
) -> None:
    user = await new_user(client)
    assert (await put_preferences(client, user, ["email", "sms"], PHONE)).status_code == 200
    payment_id = await pay(client, user, amount=2000)

    await run_jobs()

    by_email = await the_notification(runtime, user.id, event_type="payment_receipt", channel="email")
    by_sms = await the_notification(runtime, user.id, event_type="payment_receipt", channel="sms")
    (mail,) = sink.mailbox.with_message_id(message_id_of(by_email.id))
    assert mail.rcpt_tos == (user.email,) and mail.subject == "Your receipt: 20.00 USD"
    assert payment_id in (mail.body("plain") or "")
    ledger = sandbox.state.sms.ledger
    (text,) = ledger.messages.values()  # the only text the fake ever received
    assert (text.to, text.idempotency_key) == (PHONE, by_sms.id)
    assert text.body.startswith("Your receipt: 20.00 USD\n")
    assert (by_email.status, by_email.attempts) == ("sent", 1) and (by_sms.status, by_sms.attempts) == ("sent", 1)
    assert by_sms.provider_message_id == text.sid

    await run_retries()
    assert len(ledger.messages) == 1 and sink.deliveries_by_message_id[message_id_of(by_email.id)] == 1


async def test_an_sms_500_is_retried_and_one_text_is_sent(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink, run_jobs: RunJobs,
    run_retries: RunJobs,
) -> None:
    user = await new_user(client)
    assert (await put_preferences(client, user, ["email", "sms"], PHONE)).status_code == 200
    sandbox.set_sms_faults(error_500_rate=1.0)
    await pay(client, user)

    await run_jobs()

    by_sms = await the_notification(runtime, user.id, event_type="payment_receipt", channel="sms")
    by_email = await the_notification(runtime, user.id, event_type="payment_receipt", channel="email")
    assert by_email.status == "sent"  # one channel failing holds up no other
    assert sandbox.state.sms.ledger.messages == {} and sandbox.state.sms.requests.outcomes["error_500"] == 1
    assert (by_sms.status, by_sms.attempts) == ("pending", 1)
    assert by_sms.last_error is not None and "HTTP 500" in by_sms.last_error

    sandbox.set_sms_faults()
    await run_retries()

    (text,) = sandbox.state.sms.ledger.messages.values()
    assert (text.to, text.idempotency_key) == (PHONE, by_sms.id)
    by_sms = await the_notification(runtime, user.id, event_type="payment_receipt", channel="sms")
    assert (by_sms.status, by_sms.attempts, by_sms.last_error) == ("sent", 2, None)
    assert by_sms.provider_message_id == text.sid
    job = await send_job(runtime, by_sms.id)
    assert job.status == "succeeded" and await attempt_outcomes(runtime, job.id) == ["retry", "succeeded"]
