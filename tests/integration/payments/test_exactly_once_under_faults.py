"""Promise 2 (exactly-once effects) under every fault the sandbox injects, driven through the job
engine: whatever the provider does, every payment ends succeeded or failed, in agreement with the
provider's own records, and the provider never holds two intents for one Seawall payment.

Each fault is applied at rate 1 until every charge has failed at least once (so every payment goes
through it), then the provider recovers. The mixed run draws seeded random faults per request.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    charge_outcomes,
    load_payment,
    load_payments,
    payments_worker,
    post_payment,
    post_payments,
    running,
    wait_for_failed_attempts,
    wait_for_payments,
)

VISA, DECLINED, INSUFFICIENT = "pm_card_visa", "pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"
METHODS = [VISA, DECLINED, INSUFFICIENT]
EXPECTED = {VISA: ("succeeded", None), DECLINED: ("failed", "generic_decline"),
            INSUFFICIENT: ("failed", "insufficient_funds")}

FAULTS: dict[str, dict[str, Any]] = {
    "error_500": {"error_500_rate": 1.0},
    "error_503": {"error_503_rate": 1.0},
    "error_429": {"error_429_rate": 1.0, "retry_after_seconds": 1},
    "hang": {"hang_rate": 1.0},  # answered by the client's 0.5 s read timeout: outcome unknown
    "lost_response": {"lost_response_rate": 1.0},  # processed, then the connection drops
}


async def assert_settled_as_expected(runtime: Runtime, sandbox: SandboxServer, payment_ids: list[str]) -> None:
    statuses = await assert_agrees_with_provider(runtime.database, sandbox, payment_ids)
    for payment in await load_payments(runtime.database, payment_ids):
        status, failure_code = EXPECTED[payment.payment_method]
        assert (statuses[payment.id], payment.failure_code) == (status, failure_code), payment.id


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_fault_kind_settles_every_payment_exactly_once(
    fault: str, client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_ids = await post_payments(client, auth, METHODS)
    sandbox.set_faults(**FAULTS[fault])

    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_failed_attempts(runtime.database, payment_ids)
        sandbox.set_faults()  # the provider recovers
        await wait_for_payments(runtime.database, payment_ids, worker_task=worker_task)

    assert sandbox.state.requests.outcomes[fault] >= len(payment_ids)
    await assert_settled_as_expected(runtime, sandbox, payment_ids)
    if fault == "lost_response":
        # the first attempts reached the provider: the retries found those intents instead of charging again
        assert all(len(sandbox.state.intents_for(payment_id)) == 1 for payment_id in payment_ids)


async def test_an_outage_window_ends_on_its_own_and_every_payment_settles_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_ids = await post_payments(client, auth, METHODS)
    sandbox.set_faults(outage_seconds=1.5)

    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, payment_ids, worker_task=worker_task)

    assert sandbox.state.requests.outcomes["outage"] >= 1
    await assert_settled_as_expected(runtime, sandbox, payment_ids)


async def test_declines_fail_the_payment_with_the_providers_reason_and_one_intent(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_ids = await post_payments(client, auth, METHODS)

    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, payment_ids, worker_task=worker_task)

    await assert_settled_as_expected(runtime, sandbox, payment_ids)
    for payment in await load_payments(runtime.database, payment_ids):
        [intent] = sandbox.state.intents_for(payment.id)
        assert intent.id == payment.provider_intent_id
        expected_status = "succeeded" if payment.payment_method == VISA else "requires_payment_method"
        assert intent.status == expected_status


async def test_a_charge_the_provider_refuses_fails_without_an_intent(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_id = (await post_payment(client, auth, amount=10))["id"]  # under the provider's 50-cent minimum

    async with running(payments_worker(runtime)) as worker_task:
        [payment] = await wait_for_payments(runtime.database, [payment_id], worker_task=worker_task)

    assert (payment.status, payment.failure_code) == ("failed", "amount_too_small")
    assert sandbox.state.intents_for(payment_id) == []
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


async def test_a_mixed_run_with_seeded_random_faults_settles_every_payment_exactly_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    methods = [VISA, VISA, VISA, DECLINED, INSUFFICIENT] * 8  # 40 payments
    payment_ids = await post_payments(client, auth, methods)
    sandbox.set_faults(seed=20240601, error_500_rate=0.08, error_503_rate=0.08, error_429_rate=0.05,
                       hang_rate=0.04, lost_response_rate=0.10, latency_ms=5, latency_jitter_ms=20)

    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, payment_ids, worker_task=worker_task)

    faults_seen = {kind: n for kind, n in sandbox.state.requests.outcomes.items() if kind in FAULTS}
    assert sum(faults_seen.values()) > 0, sandbox.state.requests.outcomes
    await assert_settled_as_expected(runtime, sandbox, payment_ids)


async def test_a_refused_lookup_after_an_unknown_outcome_never_fails_a_charged_payment(
    client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime],
) -> None:
    """The first attempt's response is lost (the card was charged); the next attempt's lookup is
    refused (here: the API key was rotated badly, 401). A refusal of *this* request says nothing of
    the earlier one: the payment must not be failed (a failed sign-up may pay again — twice), it
    stays `processing` until a lookup succeeds."""
    good_key, bad_key = "sk_test_good_0123456789", "sk_test_rotated_badly_0123"
    async with SandboxServer(api_keys=[good_key]) as provider:
        good = make_runtime(stripe_api_base=provider.base_url, stripe_api_key=SecretStr(good_key))
        rotated = make_runtime(stripe_api_base=provider.base_url, stripe_api_key=SecretStr(bad_key))
        payment_id = (await post_payment(client, auth))["id"]
        provider.set_faults(lost_response_rate=1.0, methods=["POST"])
        clock = FakeClock(datetime.now(UTC))  # moved by hand: each run below is one attempt
        await payments_worker(good, clock=clock, rng=random.Random(3)).run_until_idle()
        assert [i.status for i in provider.state.intents_for(payment_id)] == ["succeeded"]
        provider.set_faults()

        clock.advance(60)
        await payments_worker(rotated, clock=clock, rng=random.Random(3)).run_until_idle()

        payment = await load_payment(good.database, payment_id)
        assert payment.status == "processing", (payment.status, payment.failure_code, payment.failure_message)
        assert await charge_outcomes(good.database, payment_id) == ["retry", "retry"]

        clock.advance(60)  # the key is fixed
        await payments_worker(good, clock=clock, rng=random.Random(3)).run_until_idle()
        await assert_agrees_with_provider(good.database, provider, [payment_id])
        assert (await load_payment(good.database, payment_id)).status == "succeeded"
