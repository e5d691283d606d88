"""Promise 2 across providers (DESIGN §3): a payment fails over to the fallback route only when the
primary certainly did not take it. Connection refused → the fallback charges it and the primary holds
nothing. A hanging primary (timeouts) or one that loses its responses → outcome unknown: never a
failover, not even once the primary's breaker is open; when the primary recovers, the payment
completes there with exactly one intent, and the fallback has seen no request at all."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from seawall.resilience import BreakerState
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    load_payments,
    payments_worker,
    post_payments,
    running,
    sandbox_requests,
    wait_for_failed_attempts,
    wait_for_payments,
)

METHODS = ["pm_card_visa", "pm_card_visa", "pm_card_chargeDeclined"]
EXPECTED = ["succeeded", "succeeded", "failed"]


@pytest.fixture
async def fallback() -> AsyncIterator[SandboxServer]:
    """The second Stripe-compatible provider."""
    async with SandboxServer() as server:
        yield server


@pytest.fixture
def refusing_base() -> Iterator[str]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


async def test_a_primary_that_refuses_connections_fails_over_and_the_fallback_charges_once(
    client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime],
    sandbox: SandboxServer, fallback: SandboxServer, refusing_base: str,
) -> None:
    worker_runtime = make_runtime(stripe_api_base=refusing_base, payments_fallback_api_base=fallback.base_url)
    payment_ids = await post_payments(client, auth, METHODS)

    async with running(payments_worker(worker_runtime)) as worker_task:
        payments = await wait_for_payments(worker_runtime.database, payment_ids, worker_task=worker_task)

    assert [p.status for p in payments] == EXPECTED
    assert {p.route_name for p in payments} == {"fallback"}
    await assert_agrees_with_provider(worker_runtime.database, fallback, payment_ids, others=[sandbox])
    assert sandbox_requests(sandbox) == 0

    # The route is sticky: a refund goes where the charge went.
    succeeded = payments[0]
    response = await client.post(f"/v1/payments/{succeeded.id}/refunds", json={"amount": 500},
                                 headers={**auth, "Idempotency-Key": f"refund-{succeeded.id}"})
    assert response.status_code == 202, response.text
    async with running(payments_worker(worker_runtime)) as worker_task:
        await wait_for_payments(worker_runtime.database, [succeeded.id], "partially_refunded",
                                worker_task=worker_task)
    assert fallback.state.payments.refunded_amount(succeeded.provider_intent_id or "") == 500


UNKNOWN_OUTCOME_FAULTS: dict[str, dict[str, Any]] = {
    "hang": {"hang_rate": 1.0},
    "lost_response": {"lost_response_rate": 1.0},
}


@pytest.mark.parametrize("fault", sorted(UNKNOWN_OUTCOME_FAULTS))
async def test_a_primary_with_unknown_outcomes_never_fails_over_and_completes_there_once_recovered(
    fault: str, client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime],
    sandbox: SandboxServer, fallback: SandboxServer,
) -> None:
    # The breaker opens only after twice as many failures as there are payments, so every payment has
    # been sent to the primary before it opens (a never-sent payment may rightly fail over then).
    worker_runtime = make_runtime(
        payments_fallback_api_base=fallback.base_url, breaker_sliding_window_size=6,
        breaker_minimum_number_of_calls=6, breaker_wait_duration_in_open_seconds=0.3,
        breaker_permitted_calls_in_half_open=1)
    breaker = worker_runtime.payments.route("stripe").policy.breaker
    payment_ids = await post_payments(client, auth, METHODS)
    sandbox.set_faults(**UNKNOWN_OUTCOME_FAULTS[fault])

    async with running(payments_worker(worker_runtime)) as worker_task:
        await wait_for_failed_attempts(worker_runtime.database, payment_ids)

        async def breaker_opened() -> bool:
            assert not worker_task.done()
            return any(new == BreakerState.OPEN for _name, _old, new in worker_runtime.payments.transitions)

        await wait_until(breaker_opened, interval=0.02, what="the primary's breaker to open")
        assert sandbox_requests(fallback) == 0
        sandbox.set_faults()  # the primary recovers
        payments = await wait_for_payments(worker_runtime.database, payment_ids, worker_task=worker_task)

    assert [p.status for p in payments] == EXPECTED
    assert {p.route_name for p in await load_payments(worker_runtime.database, payment_ids)} == {"stripe"}
    await assert_agrees_with_provider(worker_runtime.database, sandbox, payment_ids, others=[fallback])
    assert all(len(sandbox.state.intents_for(payment_id)) == 1 for payment_id in payment_ids)
    assert sandbox_requests(fallback) == 0
    assert breaker.state == BreakerState.CLOSED  # the primary's breaker recovered through half-open
