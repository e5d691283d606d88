"""Promise 8 (observable), payments: the series an operator watches move as the provider behaves.
A charge and a decline count one succeeded and one failed payment (once each, and only when their
transaction commits); an outage driven by the sandbox's fault injection shows as timeouts and errors,
then the breaker opening (`seawall_breaker_state` 2, one closed→open transition) and the calls it
rejects; a full bulkhead shows as rejections. Read from the catalogue as a scrape reads it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from seawall.payments import settlement
from seawall.payments.gateway import PaymentRoute, classify_payment_error
from seawall.providers.errors import ProviderUnavailableError
from seawall.providers.payments import PaymentIntentResult
from seawall.resilience import BreakerState, BulkheadFullError, CircuitOpenError
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.payments.flow import (
    payments_worker,
    post_payment,
    post_payments,
    running,
    sandbox_requests,
    wait_for_payments,
)
from tests.support.catalogue import CatalogueDelta, catalogue_value

CALLS = "seawall_provider_calls_total"


def provider_calls(provider: str = "stripe") -> dict[str, tuple[str, dict[str, str]]]:
    return {outcome: (CALLS, {"provider": provider, "outcome": outcome})
            for outcome in ("success", "error", "timeout", "rejected")}


async def look_up(route: PaymentRoute) -> PaymentIntentResult | None:
    """One read through the route's policy, as the charge job's lookup makes it."""
    return await route.policy.call(lambda: route.provider.find_payment_intent(seawall_payment_id="pay_metrics"),
                                   classify=classify_payment_error, action="lookup")


@pytest.mark.backends("sqlite")  # counted after COMMIT by SQLAlchemy's session events, alike on every database
async def test_a_charge_and_a_decline_count_one_succeeded_and_one_failed_payment_once(
    client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime], sandbox: SandboxServer,
) -> None:
    worker_runtime = make_runtime()
    delta = CatalogueDelta({
        "succeeded": ("seawall_payments_total", {"outcome": "succeeded"}),
        "failed": ("seawall_payments_total", {"outcome": "failed"}),
        **provider_calls(),
    })
    payment_ids = await post_payments(client, auth, ["pm_card_visa", "pm_card_chargeDeclined"])
    async with running(payments_worker(worker_runtime)) as worker_task:
        settled = await wait_for_payments(worker_runtime.database, payment_ids, worker_task=worker_task)
    assert [p.status for p in settled] == ["succeeded", "failed"]
    # the decline is the provider answering as designed: two successful provider calls
    assert delta.changes() == {"succeeded": 1, "failed": 1, "success": 2, "error": 0, "timeout": 0, "rejected": 0}

    # Settling again (a job that runs twice, a provider event after the job) counts nothing; nor does a
    # settlement whose transaction rolls back.
    again = CatalogueDelta({"succeeded": ("seawall_payments_total", {"outcome": "succeeded"})})
    async with worker_runtime.database.transaction() as session:
        assert not await settlement.settle_succeeded(session, clock=worker_runtime.clock, payment_id=payment_ids[0],
                                                     intent_id="pi_again")
    pending = (await post_payment(client, auth))["id"]

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack):
        async with worker_runtime.database.transaction() as session:
            assert await settlement.settle_succeeded(session, clock=worker_runtime.clock, payment_id=pending,
                                                     intent_id="pi_rolled_back")
            raise RolledBack
    assert again.changes() == {"succeeded": 0}
    async with worker_runtime.database.transaction() as session:
        assert await settlement.settle_succeeded(session, clock=worker_runtime.clock, payment_id=pending,
                                                 intent_id="pi_committed")
    assert again.changes() == {"succeeded": 1}


@pytest.mark.backends("full")  # with the breaker shared through Redis, as in production
async def test_an_outage_shows_as_timeouts_and_errors_then_the_breaker_opening_and_rejecting(
    make_runtime: Callable[..., Runtime], sandbox: SandboxServer,
) -> None:
    worker_runtime = make_runtime(
        breaker_sliding_window_size=4, breaker_minimum_number_of_calls=4, breaker_failure_rate_threshold=50.0,
        breaker_wait_duration_in_open_seconds=60.0, provider_read_timeout_seconds=0.3,
        provider_total_timeout_seconds=0.5)
    route = worker_runtime.payments.route("stripe")
    delta = CatalogueDelta({
        **provider_calls(),
        "opened": ("seawall_breaker_transitions_total", {"provider": "stripe", "from_state": "closed",
                                                          "to_state": "open"}),
        "breaker_rejections": ("seawall_breaker_rejections_total", {"provider": "stripe"}),
    })
    assert catalogue_value("seawall_breaker_state", provider="stripe") == 0

    sandbox.set_faults(hang_rate=1.0, hang_seconds=2.0)  # no answer: the read timeout gives up
    with pytest.raises(ProviderUnavailableError):
        await look_up(route)
    sandbox.set_faults(error_503_rate=1.0)
    for _ in range(3):
        with pytest.raises(ProviderUnavailableError):
            await look_up(route)
    assert route.policy.breaker.state == BreakerState.OPEN
    sent = sandbox_requests(sandbox)
    with pytest.raises(CircuitOpenError):
        await look_up(route)
    assert sandbox_requests(sandbox) == sent  # rejected: never sent

    assert catalogue_value("seawall_breaker_state", provider="stripe") == 2
    assert delta.changes() == {"success": 0, "timeout": 1, "error": 3, "rejected": 1, "opened": 1,
                               "breaker_rejections": 1}


@pytest.mark.backends("sqlite")  # the bulkhead is per process, whatever the backend
async def test_a_full_bulkhead_shows_as_rejected_calls(
    make_runtime: Callable[..., Runtime], sandbox: SandboxServer,
) -> None:
    worker_runtime = make_runtime(provider_max_concurrent_calls=1, provider_read_timeout_seconds=5.0,
                                  provider_total_timeout_seconds=5.0)
    route = worker_runtime.payments.route("stripe")
    in_use = catalogue_value("seawall_bulkhead_in_use", provider="stripe")
    delta = CatalogueDelta({**provider_calls(),
                            "bulkhead_rejections": ("seawall_bulkhead_rejections_total", {"provider": "stripe"})})
    sandbox.set_faults(latency_ms=300)

    first = asyncio.create_task(look_up(route))
    while route.policy.bulkhead.in_flight == 0:
        await asyncio.sleep(0.01)
    assert catalogue_value("seawall_bulkhead_in_use", provider="stripe") == in_use + 1
    with pytest.raises(BulkheadFullError):
        await look_up(route)
    assert await first is None  # nothing found, and found in time

    assert catalogue_value("seawall_bulkhead_in_use", provider="stripe") == in_use
    assert delta.changes() == {"success": 1, "error": 0, "timeout": 0, "rejected": 1, "bulkhead_rejections": 1}
