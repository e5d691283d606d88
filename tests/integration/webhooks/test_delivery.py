"""Promise: an event reaches every subscribed endpoint once per attempt, signed per Standard Webhooks
(checked by the receiver with the `standardwebhooks` package), under one stable webhook-id, and
only a 2xx answer counts as delivered."""

from __future__ import annotations

import httpx
import pytest

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from tests.integration.webhooks.conftest import SCHEDULE_SCALE
from tests.integration.webhooks.wire import (
    deliver_jobs,
    delivery,
    endpoint_with_secret,
    new_user,
    publish,
)
from tests.support.fakes import FakeResolver
from tests.support.workers import RunJobs


async def test_a_published_event_arrives_signed_with_the_delivery_id(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("shop"))
    receiver.register("shop", secret)
    [queued] = await publish(worker_runtime, fake_clock, user, "payment.succeeded",
                             {"payment_id": "pay_1", "amount": 4200, "currency": "eur"})
    assert queued.id.startswith("msg_") and queued.endpoint_id == endpoint_id

    await run_jobs()

    [received] = receiver.received(name="shop")
    assert received.verified, received.error
    assert received.webhook_id == queued.id
    assert received.timestamp == str(int(fake_clock.now().timestamp()))
    assert received.payload["type"] == "payment.succeeded"
    assert received.payload["data"] == {"payment_id": "pay_1", "amount": 4200, "currency": "eur"}
    assert received.payload["timestamp"].endswith("Z")
    sent = await delivery(worker_runtime, queued.id)
    assert (sent.status, sent.attempts, sent.last_status_code) == ("succeeded", 1, 200)
    assert sent.delivered_at is not None
    assert [job.status for job in await deliver_jobs(worker_runtime)] == ["succeeded"]


async def test_only_subscribed_active_endpoints_of_that_user_get_the_event(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user, other = await new_user(client, "owner"), await new_user(client, "other")
    _, paid_secret = await endpoint_with_secret(client, user, receiver.url("paid"), ["payment.succeeded"])
    _, refund_secret = await endpoint_with_secret(client, user, receiver.url("refunds"), ["refund.created"])
    _, other_secret = await endpoint_with_secret(client, other, receiver.url("other"), ["payment.succeeded"])
    for name, secret in [("paid", paid_secret), ("refunds", refund_secret), ("other", other_secret)]:
        receiver.register(name, secret)

    deliveries = await publish(worker_runtime, fake_clock, user, "payment.succeeded")
    await run_jobs()

    assert len(deliveries) == 1
    assert [r.name for r in receiver.received()] == ["paid"]


@pytest.mark.parametrize("status", [204, 299])
async def test_any_2xx_is_delivered(
    status: int, client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer,
    run_jobs: RunJobs, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, receiver.url("ok"))
    receiver.register("ok", secret)
    receiver.respond("ok", status=status)
    [queued] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    assert (await delivery(worker_runtime, queued.id)).status == "succeeded"


@pytest.mark.parametrize("status", [302, 404, 500])
async def test_anything_but_2xx_is_a_failure_that_retries_with_the_same_id(
    status: int, client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer,
    run_jobs: RunJobs, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, receiver.url("flaky"))
    receiver.register("flaky", secret)
    receiver.respond("flaky", status=status, times=2)
    [queued] = await publish(worker_runtime, fake_clock, user)

    await run_jobs()
    first = await delivery(worker_runtime, queued.id)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, status)
    assert first.last_error is not None and first.last_error.startswith(f"HTTP {status}")
    fake_clock.advance(5 * SCHEDULE_SCALE)
    await run_jobs()
    fake_clock.advance(300 * SCHEDULE_SCALE)
    await run_jobs()

    attempts = receiver.received(name="flaky")
    assert [a.answered for a in attempts] == [status, status, 200]
    assert {a.webhook_id for a in attempts} == {queued.id}
    assert all(a.verified for a in attempts)
    done = await delivery(worker_runtime, queued.id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("succeeded", 3, 200, None)


async def test_no_answer_is_a_failure(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, receiver.url("lossy"))
    receiver.register("lossy", secret)
    receiver.set_faults(lost_response_rate=1.0)
    [queued] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    lost = await delivery(worker_runtime, queued.id)
    assert (lost.status, lost.attempts, lost.last_status_code) == ("pending", 1, None)
    assert lost.last_error

    receiver.set_faults()
    fake_clock.advance(5 * SCHEDULE_SCALE)
    await run_jobs()
    assert (await delivery(worker_runtime, queued.id)).status == "succeeded"
    # the lost attempt was processed by the receiver too: the duplicate is visible under one id
    assert [r.webhook_id for r in receiver.received(name="lossy")] == [queued.id, queued.id]


async def test_the_connection_goes_to_the_checked_address_with_the_url_host(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock, resolver: FakeResolver,
) -> None:
    resolver.answers["hooks.customer.test"] = ["127.0.0.1"]
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, f"http://hooks.customer.test:{receiver.port}/hooks/named")
    receiver.register("named", secret)
    await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    [received] = receiver.received(name="named")
    assert received.verified and received.host == f"hooks.customer.test:{receiver.port}"


async def test_dns_is_checked_again_at_delivery_time(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock, resolver: FakeResolver,
) -> None:
    """Created while the name pointed at a public address; by delivery it points inside: refused,
    nothing is sent, and it counts as a failed attempt."""
    resolver.answers["rebind.customer.test"] = ["93.184.216.34"]
    guard = worker_runtime.webhooks.guard
    guard.allow_private = False
    user = await new_user(client)
    await endpoint_with_secret(client, user, "https://rebind.customer.test/hooks")
    resolver.answers["rebind.customer.test"] = ["10.0.0.5"]
    [queued] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    refused = await delivery(worker_runtime, queued.id)
    assert (refused.status, refused.attempts, refused.last_status_code) == ("pending", 1, None)
    assert refused.last_error is not None and "not public" in refused.last_error
    assert receiver.received() == []


async def test_a_delivery_to_a_deleted_endpoint_is_dropped(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("gone-soon"))
    receiver.register("gone-soon", secret)
    await publish(worker_runtime, fake_clock, user)
    assert (await client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=user.headers)).status_code == 204
    await run_jobs()
    assert receiver.received() == []
    assert [job.status for job in await deliver_jobs(worker_runtime)] == ["succeeded"]
