"""Promise 4 under overload (issue 14): one slow provider cannot take the slots of the other queues.

The payment provider hangs (every call held open, never answered, for longer than the test), so
each payment job holds its worker slot. With the default settings (8 slots; each queue may take
half; the payments bulkhead no larger than the payments queue's slots), the payment jobs take 4
slots and no more, and welcome emails and webhook deliveries keep flowing: counted where they
arrive, at the SMTP sink and the webhook receiver, while the sandbox still holds the payment calls.
On the table transport (SQLite, PostgreSQL) and on RabbitMQ (`full`: per-queue prefetch).

Before issue 14 the worker's 8 slots were shared by every queue and the bulkhead allowed 10 calls:
the payments took every slot and this test timed out waiting for the first email.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from seawall.config import WebhookSettings
from seawall.jobs.worker import Worker
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from tests.integration.accounts.wire import new_email, sign_up
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.flow import load_payments, new_user, post_payments, running
from tests.integration.webhooks.wire import User, endpoint_with_secret, publish
from tests.integration.webhooks.wire import new_user as new_webhook_user

PAYMENTS = 10  # more than the payments queue's 4 slots: the rest wait their turn, queued
SIGN_UPS = 6  # each mails one welcome (notifications queue)
EVENTS = 6  # each is one webhook delivery (webhooks queue)


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"smtp_port": 0}


@pytest.fixture
def settings_overrides(sandbox: SandboxServer, sink: SmtpSink) -> dict[str, Any]:
    return {
        "stripe_api_base": sandbox.base_url,
        "smtp_host": "127.0.0.1", "smtp_security": "none", "smtp_port": sink.port,
        "webhooks": WebhookSettings(allow_private=True),
        # The hang outlasts the test: no timeout frees a payments slot while emails and webhooks are counted.
        "provider_read_timeout_seconds": 300.0, "provider_total_timeout_seconds": 300.0,
        "job_lease_seconds": 5.0,
        # Not `maintenance`: its periodic reconciliation calls the same provider (and hangs too, in its own
        # queue's slots), which would blur the counts of payment calls at the sandbox.
        "worker_queues": "default,notifications,payments,webhooks",
        "rate_limit_enabled": False,
        "retry_budget_capacity": 1_000_000.0,
        # The defaults under test: 8 slots, no per-queue setting, no explicit bulkhead.
        "worker_concurrency": 8, "worker_queue_concurrency": "", "provider_max_concurrent_calls": None,
    }


async def test_a_hanging_payment_provider_does_not_stall_email_or_webhooks(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    receiver: WebhookReceiverServer,
) -> None:
    payments_cap = runtime.settings.queue_slots()["payments"]
    assert payments_cap == 4 and runtime.settings.resolved_provider_max_concurrent_calls == payments_cap
    payer = {"Authorization": f"Bearer {await new_user(client)}"}
    subscriber: User = await new_webhook_user(client)
    _endpoint, secret = await endpoint_with_secret(client, subscriber, receiver.url("hooks"))
    receiver.register("hooks", secret)
    mails_before = len(sink.messages)  # the two users' own welcomes, sent once the worker runs

    sandbox.set_faults(hang_rate=1.0)
    payment_ids = await post_payments(client, payer, ["pm_card_visa"] * PAYMENTS)
    worker = Worker(database=runtime.database, settings=runtime.settings, clock=runtime.clock, runtime=runtime)
    async with running(worker):
        await wait_until(lambda: _true(sandbox.state.requests.in_flight == payments_cap),
                         what="the payments slots all held by hanging calls")
        for _ in range(SIGN_UPS):
            assert (await sign_up(client, new_email("flow"))).status_code == 201
        for _ in range(EVENTS):
            await publish(runtime, runtime.clock, subscriber)

        await wait_until(lambda: _true(len(sink.messages) >= mails_before + 2 + SIGN_UPS
                                       and len(receiver.received(name="hooks")) >= EVENTS),
                         what="every welcome mailed and every webhook delivered")

        # The payment calls were still hanging the whole time: counted at the sandbox.
        assert sandbox.state.requests.in_flight == payments_cap
        assert sandbox.state.requests.max_in_flight == payments_cap
        assert worker.slots.in_use("payments") == payments_cap
        statuses = Counter(payment.status for payment in await load_payments(runtime.database, payment_ids))
        # Those in a slot wait for the provider, the rest for a slot; none settled, none failed.
        assert statuses == {"processing": payments_cap, "pending": PAYMENTS - payments_cap}, statuses
    assert len(sink.messages) == mails_before + 2 + SIGN_UPS
    assert len({webhook.webhook_id for webhook in receiver.received(name="hooks")}) == EVENTS
    assert all(webhook.verified for webhook in receiver.received(name="hooks"))


async def _true(value: bool) -> bool:
    return value


