"""The sandbox's refunds as Stripe keeps them, read back through the real adapter on loopback: the
refund list (`GET /v1/refunds?payment_intent=`, newest first, paged by `starting_after` /
`ending_before` with `has_more`), refunds found by `metadata[seawall_refund_id]` across pages,
idempotency keys forgotten on demand (Stripe prunes them once they are 24 hours old: a request
reusing a pruned key runs again), and the fault that processes a request and then never answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from seawall.providers import ProviderUnavailableError, StripeProvider
from seawall.providers import stripe as stripe_adapter
from seawall.providers.payments import SEAWALL_REFUND_ID_KEY
from seawall.sandbox import SandboxServer
from tests.integration.sandbox.conftest import API_KEY, AUTH


async def captured_intent(stripe: StripeProvider, key: str, amount: int = 2000) -> str:
    intent = await stripe.create_payment_intent(amount=amount, currency="usd", payment_method="pm_card_visa",
                                                idempotency_key=key, metadata={"seawall_payment_id": key})
    return intent.id


async def refund(stripe: StripeProvider, intent_id: str, refund_id: str, amount: int = 100) -> Any:
    return await stripe.create_refund(payment_intent_id=intent_id, amount=amount, idempotency_key=refund_id,
                                      metadata={SEAWALL_REFUND_ID_KEY: refund_id})


async def test_the_refund_list_filters_by_intent_newest_first_and_pages_with_has_more(
    stripe: StripeProvider, http: httpx.AsyncClient,
) -> None:
    intent_id, other_id = await captured_intent(stripe, "pay_list_1"), await captured_intent(stripe, "pay_list_2")
    made = [(await refund(stripe, intent_id, f"rfd_{n}")).id for n in range(5)]
    await refund(stripe, other_id, "rfd_other")

    first = (await http.get("/v1/refunds", params={"payment_intent": intent_id, "limit": 2}, headers=AUTH)).json()
    second = (await http.get("/v1/refunds", params={"payment_intent": intent_id, "limit": 2,
                                                    "starting_after": first["data"][-1]["id"]}, headers=AUTH)).json()
    last = (await http.get("/v1/refunds", params={"payment_intent": intent_id, "limit": 2,
                                                  "starting_after": second["data"][-1]["id"]}, headers=AUTH)).json()
    back = (await http.get("/v1/refunds", params={"payment_intent": intent_id, "limit": 2,
                                                  "ending_before": last["data"][0]["id"]}, headers=AUTH)).json()
    every = (await http.get("/v1/refunds", params={"limit": 100}, headers=AUTH)).json()

    assert (first["object"], first["url"]) == ("list", "/v1/refunds")
    newest_first = list(reversed(made))
    assert [r["id"] for r in first["data"] + second["data"] + last["data"]] == newest_first
    assert (first["has_more"], second["has_more"], last["has_more"]) == (True, True, False)
    assert [r["id"] for r in back["data"]] == newest_first[2:4] and back["has_more"] is True
    assert first["data"][0]["metadata"] == {SEAWALL_REFUND_ID_KEY: "rfd_4"}
    assert first["data"][0]["payment_intent"] == intent_id
    assert len(every["data"]) == 6 and every["has_more"] is False


async def test_the_refund_list_refuses_a_bad_limit_or_an_unknown_cursor(http: httpx.AsyncClient) -> None:
    too_many = await http.get("/v1/refunds", params={"limit": 101}, headers=AUTH)
    unknown = await http.get("/v1/refunds", params={"starting_after": "re_nope"}, headers=AUTH)
    no_key = await http.get("/v1/refunds")

    assert (too_many.status_code, too_many.json()["error"]["param"]) == (400, "limit")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "resource_missing")
    assert no_key.status_code == 401


async def test_find_refund_reads_every_page_and_matches_by_seawall_refund_id(
    stripe: StripeProvider, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stripe_adapter, "LIST_PAGE_SIZE", 2)  # 7 refunds: four pages
    intent_id = await captured_intent(stripe, "pay_find")
    oldest = await refund(stripe, intent_id, "rfd_oldest")
    for n in range(6):
        await refund(stripe, intent_id, f"rfd_newer_{n}")
    sandbox.state.requests.reset()

    found = await stripe.find_refund(payment_intent_id=intent_id, seawall_refund_id="rfd_oldest")
    absent = await stripe.find_refund(payment_intent_id=intent_id, seawall_refund_id="rfd_never_sent")

    assert found is not None and (found.id, found.amount, found.succeeded) == (oldest.id, 100, True)
    assert found.seawall_refund_id == "rfd_oldest"
    assert absent is None
    assert sandbox.state.requests.outcomes["ok"] == 8  # every page, twice


async def test_a_forgotten_idempotency_key_makes_a_resent_refund_run_again(
    stripe: StripeProvider, sandbox: SandboxServer, http: httpx.AsyncClient,
) -> None:
    """Why a refund must be looked up, not re-sent, once its key may have been pruned."""
    intent_id = await captured_intent(stripe, "pay_forget")
    first = await refund(stripe, intent_id, "rfd_once", amount=500)
    replayed = await refund(stripe, intent_id, "rfd_once", amount=500)

    forgotten = (await http.post("/_sandbox/payments/idempotency/forget")).json()
    again = await refund(stripe, intent_id, "rfd_once", amount=500)

    assert replayed.id == first.id and replayed.replayed
    assert forgotten == {"forgotten": 2}  # the charge's key and the refund's
    assert again.id != first.id and not again.replayed
    assert sandbox.state.payments.refunded_amount(intent_id) == 1000


async def test_a_timeout_after_processing_refunds_and_leaves_the_outcome_unknown(sandbox: SandboxServer) -> None:
    async with StripeProvider(api_key=API_KEY, api_base=sandbox.base_url, read_timeout=0.3, deadline=5) as stripe:
        intent_id = await captured_intent(stripe, "pay_timeout")
        sandbox.set_faults(timeout_after_processing_rate=1.0, methods=["POST"])

        with pytest.raises(ProviderUnavailableError) as caught:
            await refund(stripe, intent_id, "rfd_timeout", amount=700)
        sandbox.set_faults()
        found = await stripe.find_refund(payment_intent_id=intent_id, seawall_refund_id="rfd_timeout")

    assert caught.value.outcome == "unknown"
    [made] = sandbox.state.payments.refunds_for(intent_id)
    assert made.amount == 700 and found is not None and found.id == made.id
    assert sandbox.state.requests.outcomes["timeout_after_processing"] == 1
