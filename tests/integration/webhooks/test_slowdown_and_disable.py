"""Promise: receivers steer delivery the Standard Webhooks way — 410 Gone disables the endpoint,
429/502/503/504 slow the whole endpoint down (Retry-After honoured), and an endpoint that fails
without a break for `disable_after_seconds` is disabled."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.config import WebhookSettings
from tests.integration.webhooks.conftest import SCHEDULE_SCALE
from tests.integration.webhooks.wire import (
    deliver_jobs,
    delivery,
    endpoint,
    endpoint_with_secret,
    new_user,
    publish,
)
from tests.support.workers import RunJobs


async def test_410_gone_disables_the_endpoint_and_stops_its_deliveries(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("leaving"))
    receiver.register("leaving", secret)
    receiver.respond("leaving", status=410)
    [first] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()

    gone = await endpoint(worker_runtime, endpoint_id)
    assert gone.status == "disabled" and gone.disabled_reason is not None and "410" in gone.disabled_reason
    failed = await delivery(worker_runtime, first.id)
    assert (failed.status, failed.attempts, failed.last_status_code, failed.next_attempt_at) == ("failed", 1, 410,
                                                                                                 None)
    assert (await publish(worker_runtime, fake_clock, user)) == []  # nothing new is queued for it
    fake_clock.advance(3600)
    await run_jobs()
    assert len(receiver.received(name="leaving")) == 1  # no retries
    shown = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=user.headers)).json()
    assert shown["status"] == "disabled" and "410" in shown["disabled_reason"]
    assert all(job.status == "succeeded" for job in await deliver_jobs(worker_runtime))


async def test_410_fails_the_endpoints_other_waiting_deliveries(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, receiver.url("leaving"))
    receiver.register("leaving", secret)
    receiver.respond("leaving", status=500, times=1)
    [waiting] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()  # first attempt fails with 500: a retry waits
    receiver.respond("leaving", status=410)
    [second] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()  # the new event meets 410
    assert (await delivery(worker_runtime, second.id)).status == "failed"
    dropped = await delivery(worker_runtime, waiting.id)
    assert dropped.status == "failed" and dropped.last_error is not None and "disabled" in dropped.last_error
    fake_clock.advance(3600)
    await run_jobs()
    assert [r.answered for r in receiver.received(name="leaving")] == [500, 410]


@pytest.mark.parametrize("status", [429, 503])  # 502 and 504 alike: tests/unit/webhooks/test_schedule.py
async def test_overload_answers_slow_the_whole_endpoint_down_until_retry_after(
    status: int, client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer,
    run_jobs: RunJobs, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("busy"))
    receiver.register("busy", secret)
    receiver.respond("busy", status=status, retry_after=120, times=1)
    [first] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    started = fake_clock.now()

    slowed = await endpoint(worker_runtime, endpoint_id)
    assert slowed.throttled_until == started + timedelta(seconds=120)
    retry = await delivery(worker_runtime, first.id)
    assert (retry.status, retry.attempts, retry.last_status_code) == ("pending", 1, status)
    assert retry.next_attempt_at == started + timedelta(seconds=120)  # Retry-After beats the 5 s step

    [second] = await publish(worker_runtime, fake_clock, user)  # another event while slowed down
    await run_jobs()
    fake_clock.advance(60)
    await run_jobs()
    assert len(receiver.received(name="busy")) == 1  # neither the retry nor the new one went out
    waiting = await delivery(worker_runtime, second.id)
    assert (waiting.attempts, waiting.next_attempt_at) == (0, started + timedelta(seconds=120))

    fake_clock.advance(61)
    await run_jobs()
    assert {r.webhook_id for r in receiver.received(name="busy") if r.answered == 200} == {first.id, second.id}
    assert (await delivery(worker_runtime, second.id)).attempts == 1  # waiting spent no attempt
    assert all(job.status == "succeeded" for job in await deliver_jobs(worker_runtime))


async def test_an_overload_answer_without_retry_after_slows_down_for_the_scaled_default(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock, webhook_settings: WebhookSettings,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("busy"))
    receiver.register("busy", secret)
    receiver.respond("busy", status=503, times=1)
    await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    pause = webhook_settings.throttle_seconds * SCHEDULE_SCALE
    assert (await endpoint(worker_runtime, endpoint_id)).throttled_until == fake_clock.now() + timedelta(
        seconds=pause)


async def test_an_endpoint_failing_without_a_break_for_disable_after_is_disabled(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock, webhook_settings: WebhookSettings,
) -> None:
    day = 24 * 3600.0
    assert webhook_settings.disable_after_seconds == 5 * day
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("down"))
    receiver.register("down", secret)
    receiver.respond("down", status=500)
    failing_from = fake_clock.now()
    await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    assert (await endpoint(worker_runtime, endpoint_id)).failing_since == failing_from

    for _ in range(4):  # a failing event a day: still active after 4 days
        fake_clock.advance(day)
        await publish(worker_runtime, fake_clock, user)
        await run_jobs()
        assert (await endpoint(worker_runtime, endpoint_id)).status == "active"

    fake_clock.advance(day)  # five days of nothing but failures
    [last] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    disabled = await endpoint(worker_runtime, endpoint_id)
    assert disabled.status == "disabled"
    assert disabled.disabled_reason is not None and "failed since" in disabled.disabled_reason
    assert (await delivery(worker_runtime, last.id)).status == "failed"
    assert (await publish(worker_runtime, fake_clock, user)) == []


async def test_one_success_resets_the_failure_streak(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    day = 24 * 3600.0
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("shaky"))
    receiver.register("shaky", secret)
    receiver.respond("shaky", status=500, times=1)
    [first] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    assert (await endpoint(worker_runtime, endpoint_id)).failing_since is not None
    fake_clock.advance(5 * SCHEDULE_SCALE)
    await run_jobs()  # the retry gets a 200
    assert (await delivery(worker_runtime, first.id)).status == "succeeded"
    assert (await endpoint(worker_runtime, endpoint_id)).failing_since is None

    receiver.respond("shaky", status=500)
    fake_clock.advance(6 * day)  # six days after the first failure, but the streak began just now
    [later] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    shaky = await endpoint(worker_runtime, endpoint_id)
    assert (shaky.status, shaky.failing_since) == ("active", fake_clock.now())
    assert (await delivery(worker_runtime, later.id)).status == "pending"
