"""Promise: a failing delivery is retried on the published schedule (compressed here by
`schedule_scale`), never earlier, under one webhook-id, and after the tenth failure it is `failed`
— visible and recoverable — while its jobs end `succeeded` (nothing lands in the dead-letter queue
for a receiver's fault)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.schedule import RETRY_SCHEDULE_SECONDS
from tests.integration.webhooks.conftest import SCHEDULE_SCALE
from tests.integration.webhooks.wire import deliver_jobs, delivery, endpoint_with_secret, new_user, publish
from tests.support.workers import RunJobs

JUST_BEFORE = 0.001  # seconds


async def test_the_compressed_schedule_is_followed_to_the_end(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, receiver.url("down"))
    receiver.register("down", secret)
    receiver.respond("down", status=500)
    [queued] = await publish(worker_runtime, fake_clock, user)

    await run_jobs()  # attempt 1: immediately
    assert len(receiver.received()) == 1
    for number, published_delay in enumerate(RETRY_SCHEDULE_SECONDS[1:], start=2):
        delay = published_delay * SCHEDULE_SCALE
        waiting = await delivery(worker_runtime, queued.id)
        assert waiting.last_attempt_at is not None
        assert waiting.next_attempt_at == waiting.last_attempt_at + timedelta(seconds=delay)
        fake_clock.advance(delay - JUST_BEFORE)
        await run_jobs()
        assert len(receiver.received()) == number - 1, f"attempt {number} came early"
        fake_clock.advance(JUST_BEFORE)
        await run_jobs()
        assert len(receiver.received()) == number, f"attempt {number} did not come on time"

    failed = await delivery(worker_runtime, queued.id)
    assert (failed.status, failed.attempts, failed.next_attempt_at, failed.last_status_code) == ("failed", 10, None,
                                                                                               500)
    fake_clock.advance(10 * 24 * 3600 * SCHEDULE_SCALE)
    await run_jobs()
    attempts = receiver.received()
    assert len(attempts) == 10
    assert {a.webhook_id for a in attempts} == {queued.id}
    assert all(a.verified for a in attempts), [a.error for a in attempts]
    jobs = await deliver_jobs(worker_runtime)
    assert len(jobs) == 10 and {job.status for job in jobs} == {"succeeded"}


async def test_a_delivery_that_recovers_mid_schedule_stops_retrying(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    _, secret = await endpoint_with_secret(client, user, receiver.url("flaky"))
    receiver.register("flaky", secret)
    receiver.respond("flaky", status=503, times=3)
    [queued] = await publish(worker_runtime, fake_clock, user)
    for _ in range(6):
        await run_jobs()
        fake_clock.advance(3600 * SCHEDULE_SCALE)
    assert [a.answered for a in receiver.received()] == [503, 503, 503, 200]
    assert (await delivery(worker_runtime, queued.id)).attempts == 4
