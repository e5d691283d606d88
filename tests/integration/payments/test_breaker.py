"""Promise 4 (failure stays local): during a provider outage the circuit breaker opens; while it
is open nothing is sent to the provider (the sandbox's request count stands still) and the charges
are deferred without spending attempts; after its wait it lets a trial call through (half-open) and,
the provider having recovered, closes. Every payment then settles exactly once."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from seawall.resilience import BreakerState
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    charge_outcomes,
    payments_worker,
    post_payments,
    running,
    sandbox_requests,
    wait_for_payments,
)


async def test_breaker_opens_in_an_outage_sends_nothing_while_open_then_half_opens_and_closes(
    client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime], sandbox: SandboxServer,
) -> None:
    worker_runtime = make_runtime(
        breaker_sliding_window_size=4, breaker_minimum_number_of_calls=4, breaker_failure_rate_threshold=50.0,
        breaker_wait_duration_in_open_seconds=1.0, breaker_permitted_calls_in_half_open=1,
        provider_read_timeout_seconds=10.0, provider_total_timeout_seconds=15.0)  # only the 503s fail
    gateway = worker_runtime.payments
    breaker = gateway.route("stripe").policy.breaker
    payment_ids = await post_payments(client, auth, ["pm_card_visa"] * 3)
    # The outage: every call fails with 503 until the test ends it. (Not the sandbox's timed outage
    # mode: its Retry-After of the whole window would hold the jobs back past the breaker's wait.)
    sandbox.set_faults(error_503_rate=1.0)

    # One job at a time: when the breaker opens, no call of ours is still on its way to the sandbox.
    async with running(payments_worker(worker_runtime, concurrency=1)) as worker_task:
        async def opened() -> bool:
            assert not worker_task.done()
            return breaker.state == BreakerState.OPEN

        await wait_until(opened, interval=0.01, what="the breaker to open")
        sent_when_opened = sandbox_requests(sandbox)
        sandbox.set_faults()  # the provider is back, but only a trial call can tell the breaker so
        open_samples = 0

        async def left_open() -> bool:
            nonlocal open_samples
            # Read together, with no await between: a call always leaves OPEN before it is sent.
            state, sent = breaker.state, sandbox_requests(sandbox)
            if state == BreakerState.OPEN:
                open_samples += 1
                assert sent == sent_when_opened, "a call reached the provider while the breaker was open"
                return False
            return True

        await wait_until(left_open, interval=0.01, what="the breaker to leave the open state")
        await wait_for_payments(worker_runtime.database, payment_ids, "succeeded", worker_task=worker_task)

    assert open_samples > 0
    assert [(old, new) for name, old, new in gateway.transitions if name == "stripe"] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert breaker.state == BreakerState.CLOSED
    assert sandbox.state.requests.outcomes["error_503"] >= 4
    histories = [await charge_outcomes(worker_runtime.database, payment_id) for payment_id in payment_ids]
    assert any("deferred" in history for history in histories), histories  # refused by the open breaker
    await assert_agrees_with_provider(worker_runtime.database, sandbox, payment_ids)
