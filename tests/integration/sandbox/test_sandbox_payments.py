"""The real Stripe adapter against the in-process sandbox, on loopback.

Promise 2 (a payment is charged at most once, across retries and unknown outcomes) and promise 4
(a failing provider is seen as such, fast) are checked against the sandbox's own records.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from seawall.providers import (
    CardDeclinedError,
    ProviderRejectedError,
    ProviderUnavailableError,
    StripeProvider,
)
from seawall.sandbox import FaultConfig, SandboxServer, SandboxState
from seawall.sandbox.faults import FaultInjector, FaultKind
from tests.integration.sandbox.conftest import API_KEY, AUTH


def new_payment_id() -> str:
    return f"pay_{uuid.uuid4().hex}"


async def charge(stripe: StripeProvider, payment_id: str, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "idempotency_key": payment_id,
        "metadata": {"seawall_payment_id": payment_id}, "description": "Pro plan",
    }
    return await stripe.create_payment_intent(**(arguments | overrides))


async def wait_until(condition: Any, *, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# ---- the Stripe subset --------------------------------------------------------------------------

async def test_a_visa_charge_succeeds_and_is_recorded(sandbox: SandboxServer, stripe: StripeProvider) -> None:
    payment_id = new_payment_id()

    intent = await charge(stripe, payment_id, metadata={"seawall_payment_id": payment_id, "plan": "pro"})

    assert intent.succeeded and intent.id.startswith("pi_") and intent.amount_received == 2000
    recorded = sandbox.state.intents_for(payment_id)
    assert [r.id for r in recorded] == [intent.id]
    assert recorded[0].metadata == {"seawall_payment_id": payment_id, "plan": "pro"}
    assert recorded[0].description == "Pro plan"
    assert (await stripe.retrieve_payment_intent(intent.id)).id == intent.id


@pytest.mark.parametrize(("payment_method", "decline_code"), [
    ("pm_card_chargeDeclined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
async def test_a_declined_card_raises_and_leaves_an_intent_needing_a_payment_method(
    sandbox: SandboxServer, stripe: StripeProvider, payment_method: str, decline_code: str
) -> None:
    payment_id = new_payment_id()

    with pytest.raises(CardDeclinedError) as caught:
        await charge(stripe, payment_id, payment_method=payment_method)

    assert caught.value.code == "card_declined" and caught.value.decline_code == decline_code
    (recorded,) = sandbox.state.intents_for(payment_id)
    assert caught.value.payment_intent_id == recorded.id
    assert recorded.status == "requires_payment_method" and recorded.amount_received == 0
    stored = await stripe.retrieve_payment_intent(recorded.id)
    assert stored.last_failure is not None and stored.last_failure.decline_code == decline_code


async def test_a_declined_charge_retried_with_its_key_is_declined_again_without_a_new_intent(
    sandbox: SandboxServer, stripe: StripeProvider
) -> None:
    payment_id = new_payment_id()
    for _ in range(2):
        with pytest.raises(CardDeclinedError):
            await charge(stripe, payment_id, payment_method="pm_card_chargeDeclined")

    assert len(sandbox.state.intents_for(payment_id)) == 1
    assert sandbox.state.requests.outcomes["replayed"] == 1


async def test_a_replay_with_the_same_key_returns_the_same_intent(sandbox: SandboxServer,
                                                                  stripe: StripeProvider) -> None:
    payment_id = new_payment_id()

    first = await charge(stripe, payment_id)
    again = await charge(stripe, payment_id)

    assert again.id == first.id and again.replayed and not first.replayed
    assert len(sandbox.state.intents_for(payment_id)) == 1


async def test_the_same_key_with_other_parameters_is_rejected(sandbox: SandboxServer,
                                                              stripe: StripeProvider) -> None:
    payment_id = new_payment_id()
    await charge(stripe, payment_id)

    with pytest.raises(ProviderRejectedError) as caught:
        await charge(stripe, payment_id, amount=9900)

    assert caught.value.error_kind == "idempotency_error" and caught.value.http_status == 400
    assert len(sandbox.state.intents_for(payment_id)) == 1


async def test_idempotency_keys_are_scoped_per_api_key(sandbox: SandboxServer, stripe: StripeProvider) -> None:
    payment_id = new_payment_id()
    await charge(stripe, payment_id)

    async with StripeProvider(api_key="sk_test_other_account", api_base=sandbox.base_url) as other:
        await charge(other, payment_id, amount=9900)

    assert len(sandbox.state.intents_for(payment_id)) == 2


async def test_find_locates_the_intent_by_seawall_payment_id(stripe: StripeProvider) -> None:
    payment_id, other_id = new_payment_id(), new_payment_id()
    intent = await charge(stripe, payment_id)
    await charge(stripe, other_id)

    found = await stripe.find_payment_intent(seawall_payment_id=payment_id)

    assert found is not None and found.id == intent.id and found.succeeded
    assert await stripe.find_payment_intent(seawall_payment_id=new_payment_id()) is None


async def test_refunds_up_to_what_was_received_and_never_more(sandbox: SandboxServer,
                                                              stripe: StripeProvider) -> None:
    intent = await charge(stripe, new_payment_id())

    partial = await stripe.create_refund(payment_intent_id=intent.id, amount=500, idempotency_key="ref_a",
                                         metadata={"seawall_refund_id": "ref_a"})
    with pytest.raises(ProviderRejectedError) as caught:
        await stripe.create_refund(payment_intent_id=intent.id, amount=1600, idempotency_key="ref_b", metadata={})
    rest = await stripe.create_refund(payment_intent_id=intent.id, amount=None, idempotency_key="ref_c",
                                      metadata={})
    replay = await stripe.create_refund(payment_intent_id=intent.id, amount=None, idempotency_key="ref_c",
                                        metadata={})

    assert partial.succeeded and partial.id.startswith("re_") and partial.amount == 500
    assert caught.value.code == "amount_too_large"
    assert rest.amount == 1500 and replay.id == rest.id and replay.replayed
    assert sandbox.state.payments.refunded_amount(intent.id) == 2000
    with pytest.raises(ProviderRejectedError) as exhausted:
        await stripe.create_refund(payment_intent_id=intent.id, amount=1, idempotency_key="ref_d", metadata={})
    assert exhausted.value.code == "charge_already_refunded"


async def test_a_declined_intent_cannot_be_refunded(stripe: StripeProvider) -> None:
    with pytest.raises(CardDeclinedError) as declined:
        await charge(stripe, new_payment_id(), payment_method="pm_card_chargeDeclined")
    assert declined.value.payment_intent_id is not None

    with pytest.raises(ProviderRejectedError):
        await stripe.create_refund(payment_intent_id=declined.value.payment_intent_id, amount=None,
                                   idempotency_key="ref_x", metadata={})


async def test_stripe_wire_errors(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    no_key = await http.get("/v1/payment_intents/pi_x")
    json_body = await http.post("/v1/payment_intents", json={"amount": 2000},
                                 headers=AUTH)
    unknown = await http.post("/v1/payment_intents", data={"amount": "2000", "colour": "red"},
                               headers=AUTH)

    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "invalid_request_error"
    assert json_body.status_code == 400
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "parameter_unknown"
    assert sandbox.state.requests.outcomes["unauthorized"] == 1


# ---- faults -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("faults", "status", "outcome"), [
    ({"error_500_rate": 1.0}, 500, "unknown"),
    ({"error_503_rate": 1.0}, 503, "unknown"),  # Stripe documents every 5xx as indeterminate
    ({"error_429_rate": 1.0, "retry_after_seconds": 3}, 429, "not_processed"),
])
async def test_injected_errors_are_answered_without_processing(
    sandbox: SandboxServer, stripe: StripeProvider, faults: dict[str, Any], status: int, outcome: str
) -> None:
    payment_id = new_payment_id()
    sandbox.set_faults(faults)

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(stripe, payment_id)

    assert caught.value.http_status == status and caught.value.outcome == outcome
    assert sandbox.state.intents_for(payment_id) == []
    if status == 429:
        assert caught.value.retry_after == 3.0
    sandbox.set_faults()
    assert (await charge(stripe, payment_id)).succeeded  # nothing was saved under the key either
    assert len(sandbox.state.intents_for(payment_id)) == 1


async def test_a_lost_response_is_unknown_though_the_charge_happened_and_a_retry_returns_it(
    sandbox: SandboxServer, stripe: StripeProvider
) -> None:
    payment_id = new_payment_id()
    sandbox.set_faults(lost_response_rate=1.0)

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(stripe, payment_id)

    assert caught.value.outcome == "unknown"
    (recorded,) = sandbox.state.intents_for(payment_id)
    assert recorded.status == "succeeded"
    assert sandbox.state.requests.outcomes["lost_response"] == 1

    sandbox.set_faults()
    retried = await charge(stripe, payment_id)
    found = await stripe.find_payment_intent(seawall_payment_id=payment_id)

    assert retried.id == recorded.id and retried.replayed
    assert found is not None and found.id == recorded.id
    assert len(sandbox.state.intents_for(payment_id)) == 1


async def test_a_hang_ends_in_a_timeout_with_an_unknown_outcome(sandbox: SandboxServer) -> None:
    payment_id = new_payment_id()
    sandbox.set_faults(hang_rate=1.0)

    async with StripeProvider(api_key=API_KEY, api_base=sandbox.base_url, read_timeout=0.2,
                              deadline=5) as impatient:
        with pytest.raises(ProviderUnavailableError) as read_timeout:
            await charge(impatient, payment_id)
    async with StripeProvider(api_key=API_KEY, api_base=sandbox.base_url, read_timeout=5,
                              deadline=0.2) as deadline_bound:
        with pytest.raises(ProviderUnavailableError) as deadline:
            await charge(deadline_bound, payment_id)

    assert read_timeout.value.outcome == deadline.value.outcome == "unknown"
    await wait_until(lambda: sandbox.state.requests.in_flight == 0)  # the client hung up; the hang ended
    assert sandbox.state.requests.outcomes["hang"] == 2
    assert sandbox.state.intents_for(payment_id) == []


async def test_an_outage_fails_fast_for_its_duration_then_recovers() -> None:
    now = [1000.0]
    state = SandboxState(faults=FaultInjector(clock=lambda: now[0]))
    async with SandboxServer(state=state) as sandbox, \
            StripeProvider(api_key=API_KEY, api_base=sandbox.base_url) as stripe:
        sandbox.set_faults(outage_seconds=30)
        failures = []
        for _ in range(3):
            with pytest.raises(ProviderUnavailableError) as caught:
                await charge(stripe, new_payment_id())
            failures.append(caught.value)
        now[0] += 29
        with pytest.raises(ProviderUnavailableError) as last_second:
            await stripe.find_payment_intent(seawall_payment_id=new_payment_id())

        assert {(f.http_status, f.outcome, f.retry_after) for f in failures} == {(503, "unknown", 30.0)}
        assert last_second.value.retry_after == 1.0
        assert state.requests.outcomes["outage"] == 4 and state.payments.intents == {}

        now[0] += 1
        assert (await charge(stripe, new_payment_id())).succeeded


async def test_latency_is_added_before_the_answer(sandbox: SandboxServer, stripe: StripeProvider) -> None:
    sandbox.set_faults(latency_ms=20, latency_jitter_ms=10, seed=1)
    assert (await charge(stripe, new_payment_id())).succeeded
    assert sandbox.state.requests.outcomes["ok"] == 1


async def test_the_most_requests_in_flight_at_once_is_recorded(sandbox: SandboxServer) -> None:
    sandbox.set_faults(hang_rate=1.0)
    async with StripeProvider(api_key=API_KEY, api_base=sandbox.base_url, read_timeout=30,
                              deadline=30) as provider:
        calls = [asyncio.create_task(charge(provider, new_payment_id())) for _ in range(5)]
        await wait_until(lambda: sandbox.state.requests.in_flight == 5)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    await wait_until(lambda: sandbox.state.requests.in_flight == 0)
    assert sandbox.state.max_in_flight == 5


async def test_faults_are_repeatable_from_a_seed(sandbox: SandboxServer, stripe: StripeProvider) -> None:
    async def pattern() -> list[str]:
        sandbox.set_faults(error_500_rate=0.3, error_429_rate=0.2, seed=42)
        seen = []
        for _ in range(12):
            try:
                await charge(stripe, new_payment_id())
                seen.append("ok")
            except ProviderUnavailableError as error:
                seen.append(str(error.http_status))
        return seen

    first, second = await pattern(), await pattern()

    assert first == second and len(set(first)) > 1


def test_the_injector_picks_at_most_one_fault_per_request_in_proportion() -> None:
    injector = FaultInjector(FaultConfig(seed=3, error_500_rate=0.25, hang_rate=0.25, methods=["POST"]))

    kinds = [injector.decide("POST").kind for _ in range(2000)]

    assert injector.decide("GET").kind is None
    assert 400 < kinds.count(FaultKind.ERROR_500) < 600 and 400 < kinds.count(FaultKind.HANG) < 600
    with pytest.raises(ValueError):
        FaultConfig(error_500_rate=0.7, error_503_rate=0.7)


async def test_faults_and_records_are_steered_over_http(sandbox: SandboxServer, http: httpx.AsyncClient,
                                                        stripe: StripeProvider) -> None:
    payment_id = new_payment_id()
    await charge(stripe, payment_id)

    set_response = await http.post("/_sandbox/faults", json={"error_503_rate": 1.0, "methods": ["POST"]})
    with pytest.raises(ProviderUnavailableError):
        await charge(stripe, new_payment_id())
    current = (await http.get("/_sandbox/faults")).json()
    intents = (await http.get("/_sandbox/payments/intents", params={"seawall_payment_id": payment_id})).json()
    stats = (await http.get("/_sandbox/stats")).json()
    bad = await http.post("/_sandbox/faults", json={"error_500_rate": 2})
    too_much = await http.post("/_sandbox/faults", json={"error_500_rate": 0.6, "hang_rate": 0.6})

    assert set_response.status_code == 200 and current["faults"]["error_503_rate"] == 1.0
    assert intents["count"] == 1 and intents["data"][0]["metadata"]["seawall_payment_id"] == payment_id
    assert stats["outcomes"] == {"ok": 1, "error_503": 1} and stats["intents"] == 1
    assert bad.status_code == too_much.status_code == 422
    assert (await stripe.retrieve_payment_intent(intents["data"][0]["id"])).succeeded  # GETs unaffected


def test_seawall_sandbox_reads_faults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from seawall.sandbox import SandboxSettings

    monkeypatch.setenv("SEAWALL_SANDBOX_FAULTS", '{"error_500_rate": 0.1, "seed": 9}')
    monkeypatch.setenv("SEAWALL_SANDBOX_FAULTS__LATENCY_MS", "25")

    faults = SandboxSettings().faults

    assert (faults.error_500_rate, faults.seed, faults.latency_ms) == (0.1, 9, 25.0)
