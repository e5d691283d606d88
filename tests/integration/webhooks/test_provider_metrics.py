"""Promise 8 (observable), outbound webhooks: every attempt counts once as a call of the provider
`webhooks` (never per endpoint), by outcome, and an endpoint disabled automatically (here by 410 Gone)
counts once in `seawall_webhook_endpoints_disabled_total`, even when several attempts meet the 410."""

from __future__ import annotations

import httpx
import pytest

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from tests.integration.webhooks.wire import endpoint, endpoint_with_secret, new_user, publish
from tests.support.catalogue import CatalogueDelta, catalogue_value
from tests.support.workers import RunJobs

pytestmark = pytest.mark.backends("sqlite")  # counted after COMMIT by SQLAlchemy's session events, alike everywhere


async def test_attempts_count_as_webhooks_calls_and_a_disabled_endpoint_counts_once(
    client: httpx.AsyncClient, worker_runtime: Runtime, receiver: WebhookReceiverServer, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    delta = CatalogueDelta({
        "success": ("seawall_provider_calls_total", {"provider": "webhooks", "outcome": "success"}),
        "error": ("seawall_provider_calls_total", {"provider": "webhooks", "outcome": "error"}),
        "disabled": ("seawall_webhook_endpoints_disabled_total", {}),
    })
    user = await new_user(client)
    _, staying_secret = await endpoint_with_secret(client, user, receiver.url("staying"))
    leaving_id, leaving_secret = await endpoint_with_secret(client, user, receiver.url("leaving"))
    receiver.register("staying", staying_secret)
    receiver.register("leaving", leaving_secret)
    receiver.respond("leaving", status=410)
    await publish(worker_runtime, fake_clock, user)
    await publish(worker_runtime, fake_clock, user)  # a second delivery: failed with the endpoint, or a 410 too
    await run_jobs()

    assert (await endpoint(worker_runtime, leaving_id)).status == "disabled"
    gone = len(receiver.received(name="leaving"))
    assert len(receiver.received(name="staying")) == 2 and gone in (1, 2)
    assert delta.changes() == {"success": 2, "error": gone, "disabled": 1}
    assert catalogue_value("seawall_bulkhead_in_use", provider="webhooks") == 0
