"""`notify()` in the caller's transaction: the same event twice is one notification per channel and
one send job (so one message at the sink and one text at the fake), and a rolled-back transaction
leaves no notification, no job and no message."""

from __future__ import annotations

import httpx
import pytest

from seawall.kit.clock import FakeClock
from seawall.notifications import service
from seawall.notifications.messages import PaymentReceipt, RefundReceipt
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from tests.integration.notifications.wire import (
    PHONE,
    message_id_of,
    new_user,
    notifications_of,
    pay,
    put_preferences,
    send_jobs,
)
from tests.support.workers import RunJobs


async def test_the_same_event_twice_in_one_transaction_is_one_notification_per_channel(
    client: httpx.AsyncClient, runtime: Runtime, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    assert (await put_preferences(client, user, ["email", "sms"], PHONE)).status_code == 200
    event = RefundReceipt(user_id=user.id, payment_id="pay_x", refund_id="re_x")

    async with runtime.database.transaction() as session:
        first = await service.notify(session, event, clock=fake_clock)
        again = await service.notify(session, event, clock=fake_clock)

    assert sorted(n.channel for n in first) == ["email", "sms"]
    assert [n.id for n in again] == [n.id for n in first]
    stored = await notifications_of(runtime, user.id, event_type="refund_issued")
    assert sorted(n.id for n in stored) == sorted(n.id for n in first)
    assert len(await send_jobs(runtime, [n.id for n in first])) == 2


async def test_a_receipt_notified_again_after_it_was_sent_sends_nothing_more(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink, fake_clock: FakeClock,
    run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    user = await new_user(client)
    assert (await put_preferences(client, user, ["email", "sms"], PHONE)).status_code == 200
    payment_id = await pay(client, user)
    await run_jobs()  # the charge settles and notifies; both messages go out
    sent = await notifications_of(runtime, user.id, event_type="payment_receipt")
    assert sorted((n.channel, n.status) for n in sent) == [("email", "sent"), ("sms", "sent")]
    jobs_before = await send_jobs(runtime)

    async with runtime.database.transaction() as session:  # e.g. the settling handler running again
        again = await service.notify(session, PaymentReceipt(user_id=user.id, payment_id=payment_id),
                                     clock=fake_clock)
    await run_retries()

    assert sorted(n.id for n in again) == sorted(n.id for n in sent)
    assert [job.id for job in await send_jobs(runtime)] == [job.id for job in jobs_before]
    by_email = next(n for n in sent if n.channel == "email")
    by_sms = next(n for n in sent if n.channel == "sms")
    assert sink.deliveries_by_message_id[message_id_of(by_email.id)] == 1 and sink.duplicates() == {}
    assert [text.idempotency_key for text in sandbox.state.sms.ledger.messages.values()] == [by_sms.id]


class Abandoned(Exception):
    pass


async def test_notify_in_a_rolled_back_transaction_leaves_nothing(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink, fake_clock: FakeClock,
    run_jobs: RunJobs,
) -> None:
    user = await new_user(client)
    assert (await put_preferences(client, user, ["email", "sms"], PHONE)).status_code == 200
    payment_id = await pay(client, user)
    await run_jobs()
    messages_before, jobs_before = len(sink.messages), await send_jobs(runtime)
    event = RefundReceipt(user_id=user.id, payment_id=payment_id, refund_id="re_never")

    with pytest.raises(Abandoned):
        async with runtime.database.transaction() as session:
            created = await service.notify(session, event, clock=fake_clock)
            assert len(created) == 2  # written, then rolled back with the change that caused them
            raise Abandoned

    await run_jobs()

    assert await notifications_of(runtime, user.id, event_type="refund_issued") == []
    assert [job.id for job in await send_jobs(runtime)] == [job.id for job in jobs_before]
    assert len(sink.messages) == messages_before
    assert all("refund" not in text.body.lower() for text in sandbox.state.sms.ledger.messages.values())
