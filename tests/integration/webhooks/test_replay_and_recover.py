"""Promise: deliveries are visible per endpoint with their status, and can be sent again — one by
hand (replay) or every failed one since a time (recover) — under the same webhook-id."""

from __future__ import annotations

from datetime import timedelta

import httpx

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.schedule import RETRY_SCHEDULE_SECONDS
from tests.integration.accounts.wire import assert_error, new_key
from tests.integration.webhooks.conftest import SCHEDULE_SCALE
from tests.integration.webhooks.wire import (
    delivery,
    endpoint_with_secret,
    new_user,
    publish,
    replay_headers,
)
from tests.support.workers import RunJobs

WHOLE_SCHEDULE = sum(RETRY_SCHEDULE_SECONDS) * SCHEDULE_SCALE + 1


async def _exhaust(run_jobs: RunJobs, clock: FakeClock) -> None:
    """Run the whole (compressed) schedule."""
    for delay in RETRY_SCHEDULE_SECONDS:
        clock.advance(delay * SCHEDULE_SCALE)
        await run_jobs()


async def test_deliveries_are_listed_with_their_status_by_cursor(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("list"))
    receiver.register("list", secret)
    ids = []
    for _ in range(3):
        [queued] = await publish(worker_runtime, fake_clock, user)
        ids.append(queued.id)
        fake_clock.advance(0.001)
    receiver.respond("list", status=500, times=1)
    await run_jobs()  # one fails once, the other two arrive

    base = f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
    page = (await client.get(base, params={"limit": 2}, headers=user.headers)).json()
    rest = (await client.get(base, params={"limit": 2, "cursor": page["next_cursor"]}, headers=user.headers)).json()
    assert [d["id"] for d in page["data"] + rest["data"]] == list(reversed(ids))
    assert rest["next_cursor"] is None
    [failed_once] = [d for d in page["data"] + rest["data"] if d["status"] == "pending"]  # whichever got the 500
    assert (failed_once["attempts"], failed_once["last_status_code"]) == (1, 500)
    assert failed_once["next_attempt_at"] is not None and failed_once["last_error"].startswith("HTTP 500")
    pending = (await client.get(base, params={"status": "pending"}, headers=user.headers)).json()["data"]
    succeeded = (await client.get(base, params={"status": "succeeded"}, headers=user.headers)).json()["data"]
    assert [d["id"] for d in pending] == [failed_once["id"]] and len(succeeded) == 2
    assert_error(await client.get(base, params={"status": "lost"}, headers=user.headers), 400)
    one = await client.get(f"{base}/{succeeded[0]['id']}", headers=user.headers)
    assert one.json()["status"] == "succeeded" and one.json()["event_id"].startswith("evt_")


async def test_a_failed_delivery_is_replayed_by_hand_with_the_same_id(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("broken"))
    receiver.register("broken", secret)
    receiver.respond("broken", status=500)
    [queued] = await publish(worker_runtime, fake_clock, user)
    await _exhaust(run_jobs, fake_clock)
    assert (await delivery(worker_runtime, queued.id)).status == "failed"

    receiver.respond_normally("broken")
    path = f"/v1/webhook-endpoints/{endpoint_id}/deliveries/{queued.id}/replay"
    key = new_key()
    replayed = await client.post(path, headers={**user.headers, "Idempotency-Key": key})
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "pending"
    again = await client.post(path, headers={**user.headers, "Idempotency-Key": key})
    assert again.headers.get("idempotent-replayed") == "true"  # one replay, however often it is asked
    await run_jobs()

    attempts = receiver.received(queued.id)
    assert [a.answered for a in attempts] == [500] * 10 + [200]
    done = await delivery(worker_runtime, queued.id)
    assert (done.status, done.attempts) == ("succeeded", 11)


async def test_a_succeeded_delivery_can_be_replayed_too(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("again"))
    receiver.register("again", secret)
    [queued] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    response = await client.post(f"/v1/webhook-endpoints/{endpoint_id}/deliveries/{queued.id}/replay",
                                 headers=replay_headers(user))
    assert response.status_code == 202
    await run_jobs()
    assert [a.webhook_id for a in receiver.received()] == [queued.id, queued.id]  # a visible duplicate


async def test_a_replayed_delivery_that_fails_retries_on_a_fresh_schedule(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("still-broken"))
    receiver.register("still-broken", secret)
    receiver.respond("still-broken", status=500)
    [queued] = await publish(worker_runtime, fake_clock, user)
    await _exhaust(run_jobs, fake_clock)
    await client.post(f"/v1/webhook-endpoints/{endpoint_id}/deliveries/{queued.id}/replay",
                      headers=replay_headers(user))
    await run_jobs()
    retry = await delivery(worker_runtime, queued.id)
    assert (retry.status, retry.attempts) == ("pending", 11)
    assert retry.last_attempt_at is not None
    assert retry.next_attempt_at == retry.last_attempt_at + timedelta(seconds=5 * SCHEDULE_SCALE)


async def test_recover_sends_every_failed_delivery_since_a_time(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("outage"))
    receiver.register("outage", secret)
    receiver.respond("outage", status=500)
    [before] = await publish(worker_runtime, fake_clock, user)
    fake_clock.advance(1)
    since = fake_clock.now()
    during = [(await publish(worker_runtime, fake_clock, user))[0] for _ in range(3)]
    await _exhaust(run_jobs, fake_clock)  # the outage outlasts the schedule
    assert {(await delivery(worker_runtime, d.id)).status for d in [before, *during]} == {"failed"}

    receiver.respond_normally("outage")
    recovered = await client.post(f"/v1/webhook-endpoints/{endpoint_id}/recover",
                                  json={"since": since.isoformat()}, headers=replay_headers(user))
    assert recovered.status_code == 202, recovered.text
    assert recovered.json() == {"recovered": 3, "has_more": False}
    await run_jobs()

    delivered = {r.webhook_id for r in receiver.received() if r.answered == 200}
    assert delivered == {d.id for d in during}
    assert len(receiver.received()) == 4 * 10 + 3
    assert (await delivery(worker_runtime, before.id)).status == "failed"  # before `since`: untouched
    again = await client.post(f"/v1/webhook-endpoints/{endpoint_id}/recover", json={"since": since.isoformat()},
                              headers=replay_headers(user))
    assert again.json() == {"recovered": 0, "has_more": False}


async def test_a_disabled_endpoint_cannot_be_replayed_to(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    endpoint_id, secret = await endpoint_with_secret(client, user, receiver.url("gone"))
    receiver.register("gone", secret)
    receiver.respond("gone", status=410)
    [queued] = await publish(worker_runtime, fake_clock, user)
    await run_jobs()
    base = f"/v1/webhook-endpoints/{endpoint_id}"
    assert_error(await client.post(f"{base}/deliveries/{queued.id}/replay", headers=replay_headers(user)), 409,
                 "webhook_endpoint_disabled")
    assert_error(await client.post(f"{base}/recover", json={"since": 0}, headers=replay_headers(user)), 409)
    assert_error(await client.post(f"{base}/deliveries/msg_nope/replay", headers=replay_headers(user)), 409)
