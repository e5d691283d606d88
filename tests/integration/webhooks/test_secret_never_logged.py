"""Promise: an endpoint's signing secret is shown once, in the creation answer, and never again: not
in any log line (creation, a delivered and a refused delivery, a replay), nor in any later answer
(the endpoint, the list, its deliveries, the creation replayed with its Idempotency-Key)."""

from __future__ import annotations

import httpx

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from tests.integration.webhooks.wire import create_endpoint, new_user, publish
from tests.support.logs import captured_logs
from tests.support.workers import RunJobs


async def test_the_signing_secret_is_in_the_creation_answer_only(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    answers: list[str] = []
    with captured_logs() as logs:
        created = await create_endpoint(client, user, receiver.url("shop"), key="create-once")
        assert created.status_code == 201, created.text
        endpoint_id, secret = created.json()["id"], created.json()["secret"]
        assert secret.startswith("whsec_")
        receiver.register("shop", secret)
        await publish(worker_runtime, fake_clock, user)
        await run_jobs()
        assert receiver.received(name="shop")[0].verified  # signed with it
        receiver.respond("shop", status=500, times=1)
        await publish(worker_runtime, fake_clock, user)
        await run_jobs()
        for response in [
            await create_endpoint(client, user, receiver.url("shop"), key="create-once"),  # replayed
            await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=user.headers),
            await client.get("/v1/webhook-endpoints", headers=user.headers),
            await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=user.headers),
        ]:
            assert response.status_code in (200, 201), response.text
            answers.append(response.text)
    attempts = [line for line in logs.text.splitlines() if '"event": "webhook.attempt"' in line]
    assert len(attempts) == 2 and '"status_code": 500' in attempts[1]  # both deliveries were logged
    assert secret not in logs.text
    signing_key = secret.removeprefix("whsec_")
    assert signing_key not in logs.text
    for answer in answers:
        assert secret not in answer and signing_key not in answer
