"""Promise 4: the bulkhead caps the calls in flight to one provider. With 8 worker slots and a cap of
2, the slow sandbox never sees more than 2 calls at once; the jobs the bulkhead refuses are deferred
(nothing was sent, no attempt is spent), and every payment still succeeds exactly once."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    charge_job,
    charge_outcomes,
    payments_worker,
    post_payments,
    running,
    wait_for_payments,
)


async def test_the_provider_never_sees_more_concurrent_calls_than_the_bulkhead_allows(
    client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime], sandbox: SandboxServer,
) -> None:
    # Generous timeouts: here a slow answer must never turn into a retry, only the bulkhead may refuse.
    worker_runtime = make_runtime(provider_max_concurrent_calls=2, provider_read_timeout_seconds=10.0,
                                  provider_total_timeout_seconds=15.0)
    payment_ids = await post_payments(client, auth, ["pm_card_visa"] * 20)
    sandbox.set_faults(latency_ms=200)

    async with running(payments_worker(worker_runtime, concurrency=8)) as worker_task:
        await wait_for_payments(worker_runtime.database, payment_ids, "succeeded", worker_task=worker_task)

    assert sandbox.state.requests.max_in_flight <= 2
    assert worker_runtime.payments.route("stripe").policy.bulkhead.peak_in_flight == 2
    histories = {payment_id: await charge_outcomes(worker_runtime.database, payment_id) for payment_id in payment_ids}
    assert any("deferred" in history for history in histories.values()), histories
    for payment_id, history in histories.items():
        # refused by the bulkhead: deferred, never a failed attempt, never dead
        assert set(history) <= {"deferred", "succeeded"} and history[-1] == "succeeded", (payment_id, history)
        job = await charge_job(worker_runtime.database, payment_id)
        assert (job.status, job.attempts) == ("succeeded", 1), (payment_id, history)
    await assert_agrees_with_provider(worker_runtime.database, sandbox, payment_ids)
