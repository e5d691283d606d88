"""Email notifications through the sandbox's SMTP sink, judged by what the sink recorded.

Promise: a notification is one message, identified by its notification id as the `Message-ID`;
a transient refusal is retried until delivered once; a lost answer is resent under the SAME
Message-ID (a duplicate the receiving side can detect and drop); a permanent refusal fails the
notification at once, without retries and without a dead job.
"""

from __future__ import annotations

import re

import httpx

from seawall.runtime import Runtime
from seawall.sandbox.smtp import SmtpSink
from tests.integration.accounts.wire import new_email
from tests.integration.notifications.wire import (
    attempt_outcomes,
    message_id_of,
    new_user,
    send_job,
    the_notification,
)
from tests.support.workers import RunJobs

MESSAGE_ID = re.compile(r"<ntf_[0-9a-f]{32}@seawall\.invalid>")


async def test_a_free_sign_up_mails_one_welcome_identified_by_the_notification_id(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    address = new_email("o'neil&co")  # characters HTML must escape, legal in an address
    user = await new_user(client, address)

    await run_jobs()

    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    (received,) = sink.messages
    assert received.message_id == message_id_of(welcome.id) and MESSAGE_ID.fullmatch(received.message_id)
    assert received.rcpt_tos == (address,) and received.mail_from == "no-reply@seawall.invalid"
    assert received.subject == "Welcome to Seawall"
    assert received.message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in received.message.iter_parts()] == ["text/plain", "text/html"]
    text, html = received.body("plain") or "", received.body("html") or ""
    assert address in text and "None" not in text  # a free plan is named, not printed as a Python None
    assert address.replace("&", "&amp;").replace("'", "&#39;") in html and address not in html
    assert (welcome.status, welcome.attempts, welcome.last_error) == ("sent", 1, None)
    assert welcome.sent_at is not None and welcome.provider_message_id == received.message_id
    assert await attempt_outcomes(runtime, (await send_job(runtime, welcome.id)).id) == ["succeeded"]

    await run_retries()  # nothing is left to send
    assert sink.deliveries_by_message_id == {received.message_id: 1} and sink.duplicates() == {}


async def test_an_internationalized_domain_is_mailed_in_its_ascii_form(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs,
) -> None:
    """Issue 12, item 8: an account's address is always one every relay takes, so its mail goes out."""
    local = new_email("idn").split("@")[0]
    user = await new_user(client, f"{local}@bücher.example.com")

    await run_jobs()

    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    (received,) = sink.messages
    assert received.rcpt_tos == (f"{local}@xn--bcher-kva.example.com",)
    assert (welcome.status, welcome.attempts, welcome.last_error) == ("sent", 1, None)


async def test_a_451_is_retried_and_the_message_is_delivered_once(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    sink.set_faults(error_451_rate=1.0)
    user = await new_user(client)

    await run_jobs()

    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    assert sink.messages == [] and sink.outcomes["error_451"] == 1
    assert (welcome.status, welcome.attempts, welcome.sent_at) == ("pending", 1, None)
    assert welcome.last_error is not None and "SMTP 451" in welcome.last_error
    job = await send_job(runtime, welcome.id)
    assert job.status == "queued" and await attempt_outcomes(runtime, job.id) == ["retry"]

    sink.set_faults()
    await run_retries()

    assert sink.deliveries_by_message_id == {message_id_of(welcome.id): 1} and sink.duplicates() == {}
    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    assert (welcome.status, welcome.attempts, welcome.last_error) == ("sent", 2, None)
    job = await send_job(runtime, welcome.id)
    assert job.status == "succeeded" and await attempt_outcomes(runtime, job.id) == ["retry", "succeeded"]


async def test_a_lost_answer_is_resent_under_the_same_message_id(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    sink.set_faults(lost_response_rate=1.0)  # accepted and recorded, then the connection drops before 250
    user = await new_user(client)

    await run_jobs()

    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    message_id = message_id_of(welcome.id)
    assert sink.deliveries_by_message_id == {message_id: 1} and sink.outcomes["lost_response"] == 1
    assert (welcome.status, welcome.attempts) == ("pending", 1)
    assert welcome.last_error is not None and "outcome unknown" in welcome.last_error

    sink.set_faults()
    await run_retries()

    assert sink.duplicates() == {message_id: 2}  # the resend is detectable: one Message-ID, twice
    first, again = sink.mailbox.with_message_id(message_id)
    assert (first.subject, first.body("plain"), first.rcpt_tos) == (again.subject, again.body("plain"), again.rcpt_tos)
    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    assert (welcome.status, welcome.attempts, welcome.last_error) == ("sent", 2, None)
    assert welcome.sent_at is not None

    await run_retries()  # sent is final: no third copy
    assert sink.deliveries_by_message_id == {message_id: 2}


async def test_a_bounced_address_fails_the_notification_without_retries(
    client: httpx.AsyncClient, runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    user = await new_user(client, new_email("bounce"))  # the sink answers 550 at RCPT TO

    await run_jobs()

    welcome = await the_notification(runtime, user.id, event_type="welcome", channel="email")
    assert (welcome.status, welcome.attempts, welcome.sent_at) == ("failed", 1, None)
    assert welcome.last_error is not None and "SMTP 550" in welcome.last_error
    job = await send_job(runtime, welcome.id)
    assert job.status == "succeeded" and await attempt_outcomes(runtime, job.id) == ["succeeded"]  # not dead

    await run_retries()

    assert sink.messages == [] and sink.outcomes == {"bounced": 1}
    assert (await the_notification(runtime, user.id, event_type="welcome", channel="email")).attempts == 1
