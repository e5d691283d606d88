"""The Stripe adapter against Stripe's documented answers (respx): wire format and error translation.

Promise 2 (exactly-once charges) rests on telling "certainly not processed" from "unknown"; promise 4
on never waiting without bound. Both are decided here, at the boundary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from seawall.providers import (
    CardDeclinedError,
    PaymentProvider,
    ProviderRejectedError,
    ProviderUnavailableError,
    StripeProvider,
)
from seawall.providers import stripe as stripe_adapter
from seawall.providers.errors import ProviderError, parse_retry_after

BASE = "https://stripe.test"
API_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"


def intent_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 2000,
        "amount_capturable": 0, "amount_received": 2000, "currency": "usd", "status": "succeeded",
        "created": 1680800504, "latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPb", "last_payment_error": None,
        "metadata": {"seawall_payment_id": "pay_1"}, "livemode": False, "payment_method": "pm_card_visa",
    }
    return body | overrides


def stripe_error(status: int, headers: dict[str, str] | None = None, **error: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": error}, headers={"Request-Id": "req_abc", **(headers or {})})


@pytest.fixture
def stripe_mock() -> respx.MockRouter:
    return respx.MockRouter(base_url=BASE, assert_all_called=False)


@pytest.fixture
async def provider(stripe_mock: respx.MockRouter) -> AsyncIterator[StripeProvider]:
    transport = httpx.MockTransport(stripe_mock.async_handler)
    async with StripeProvider(api_key=API_KEY, api_base=BASE, connect_timeout=1, read_timeout=1, deadline=0.2,
                              transport=transport) as stripe:
        yield stripe


async def charge(provider: StripeProvider, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "idempotency_key": "pay_1",
        "metadata": {"seawall_payment_id": "pay_1", "plan": "pro"}, "description": "Pro plan",
    }
    return await provider.create_payment_intent(**(arguments | overrides))


def assert_no_secret(error: BaseException) -> None:
    assert API_KEY not in str(error) and API_KEY not in repr(error)
    assert API_KEY not in json.dumps(getattr(error, "details", None) or {})
    assert error.__cause__ is None and error.__context__ is None


async def test_create_sends_a_form_with_bearer_auth_metadata_brackets_and_the_idempotency_key(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    route = stripe_mock.post("/v1/payment_intents").respond(200, json=intent_body())

    result = await charge(provider)

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Idempotency-Key"] == "pay_1"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Stripe-Version" in request.headers
    assert dict(parse_qsl(request.content.decode())) == {
        "amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true",
        "description": "Pro plan", "metadata[seawall_payment_id]": "pay_1", "metadata[plan]": "pro",
    }
    assert result.succeeded and result.id == "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    assert result.amount_received == 2000 and result.latest_charge == "ch_3MtwBwLkdIwHu7ix28a3tqPb"
    assert result.seawall_payment_id == "pay_1" and result.replayed is False


async def test_a_replayed_answer_is_marked(provider: StripeProvider, stripe_mock: respx.MockRouter) -> None:
    stripe_mock.post("/v1/payment_intents").respond(200, json=intent_body(), headers={"Idempotent-Replayed": "true"})
    assert (await charge(provider)).replayed is True


@pytest.mark.parametrize(("decline_code", "message"), [
    ("generic_decline", "Your card was declined."),
    ("insufficient_funds", "Your card has insufficient funds."),
])
async def test_a_card_decline_is_a_permanent_business_outcome(
    provider: StripeProvider, stripe_mock: respx.MockRouter, decline_code: str, message: str
) -> None:
    declined = intent_body(status="requires_payment_method", amount_received=0, last_payment_error={
        "type": "card_error", "code": "card_declined", "decline_code": decline_code, "message": message})
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        402, type="card_error", code="card_declined", decline_code=decline_code, message=message,
        charge="ch_1", payment_intent=declined,
    ))

    with pytest.raises(CardDeclinedError) as caught:
        await charge(provider, payment_method="pm_card_chargeDeclined")

    assert caught.value.code == "card_declined" and caught.value.decline_code == decline_code
    assert caught.value.payment_intent_id == declined["id"]
    assert caught.value.http_status == 402 and caught.value.request_id == "req_abc"
    assert_no_secret(caught.value)


async def test_an_invalid_request_is_rejected_for_good(provider: StripeProvider,
                                                       stripe_mock: respx.MockRouter) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        400, type="invalid_request_error", code="parameter_missing", param="currency",
        message="Missing required param: currency."))

    with pytest.raises(ProviderRejectedError) as caught:
        await charge(provider)

    assert caught.value.error_kind == "invalid_request_error"
    assert caught.value.code == "parameter_missing" and caught.value.param == "currency"
    assert not isinstance(caught.value, ProviderUnavailableError)


async def test_reusing_a_key_with_other_parameters_is_rejected(provider: StripeProvider,
                                                               stripe_mock: respx.MockRouter) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        400, type="idempotency_error",
        message="Keys for idempotent requests can only be used with the same parameters they were first used with."))

    with pytest.raises(ProviderRejectedError) as caught:
        await charge(provider)

    assert caught.value.error_kind == "idempotency_error"


async def test_a_key_still_in_use_means_unknown(provider: StripeProvider, stripe_mock: respx.MockRouter) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        409, {"Stripe-Should-Retry": "true"}, type="invalid_request_error", code="idempotency_key_in_use",
        message="There is currently another in-progress request using this Idempotent Key."))

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown" and caught.value.should_retry


async def test_rate_limited_is_not_processed_and_carries_retry_after(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        429, {"Retry-After": "2"}, type="invalid_request_error", code="rate_limit",
        message="Request rate limit exceeded."))

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "not_processed" and caught.value.certainly_not_processed
    assert caught.value.retry_after == 2.0 and caught.value.http_status == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_server_error_leaves_the_outcome_unknown(provider: StripeProvider, stripe_mock: respx.MockRouter,
                                                         status: int) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        status, type="api_error", message="An unknown error occurred"))

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown" and caught.value.should_retry
    assert_no_secret(caught.value)


async def test_stripe_should_retry_false_on_a_500_says_reconcile_instead(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        500, {"Stripe-Should-Retry": "false"}, type="api_error", message="An unknown error occurred"))

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown" and caught.value.should_retry is False


async def test_stripe_should_retry_true_on_a_4xx_makes_it_transient(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=stripe_error(
        400, {"Stripe-Should-Retry": "true"}, type="invalid_request_error", code="lock_timeout",
        message="This object cannot be accessed right now because another API request is accessing it."))

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown"


async def test_an_error_page_that_is_not_json_is_classified_by_status(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    stripe_mock.post("/v1/payment_intents").respond(502, text="<html>Bad gateway</html>")

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown" and caught.value.http_status == 502


@pytest.mark.parametrize("error", [
    httpx.ConnectError("connection refused"),
    httpx.ConnectTimeout("connect timed out"),
    httpx.PoolTimeout("no connection free"),
])
async def test_a_request_never_sent_is_not_processed(provider: StripeProvider, stripe_mock: respx.MockRouter,
                                                     error: Exception) -> None:
    stripe_mock.post("/v1/payment_intents").mock(side_effect=error)

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "not_processed"
    assert_no_secret(caught.value)


@pytest.mark.parametrize("error", [
    httpx.ReadTimeout("read timed out"),
    httpx.WriteTimeout("write timed out"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    httpx.ReadError("connection reset by peer"),
])
async def test_a_request_sent_without_a_complete_answer_is_unknown(
    provider: StripeProvider, stripe_mock: respx.MockRouter, error: Exception
) -> None:
    stripe_mock.post("/v1/payment_intents").mock(side_effect=error)

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown"
    assert_no_secret(caught.value)


async def test_the_total_deadline_bounds_a_slow_answer(provider: StripeProvider,
                                                       stripe_mock: respx.MockRouter) -> None:
    async def slow(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200, json=intent_body())

    stripe_mock.post("/v1/payment_intents").mock(side_effect=slow)

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown"
    assert_no_secret(caught.value)


async def test_a_refused_key_is_rejected_without_echoing_it(provider: StripeProvider,
                                                            stripe_mock: respx.MockRouter) -> None:
    stripe_mock.get("/v1/payment_intents/pi_1").mock(return_value=stripe_error(
        401, type="invalid_request_error", message=f"Invalid API Key provided: {API_KEY}"))

    with pytest.raises(ProviderRejectedError) as caught:
        await provider.retrieve_payment_intent("pi_1")

    assert caught.value.http_status == 401
    assert "sk_test" not in str(caught.value)
    assert_no_secret(caught.value)
    assert API_KEY not in repr(provider)


async def test_retrieve_parses_a_declined_intent(provider: StripeProvider, stripe_mock: respx.MockRouter) -> None:
    stripe_mock.get("/v1/payment_intents/pi_1").respond(200, json=intent_body(
        id="pi_1", status="requires_payment_method", amount_received=0,
        last_payment_error={"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                            "message": "Your card has insufficient funds."}))

    result = await provider.retrieve_payment_intent("pi_1")

    assert not result.succeeded and result.last_failure is not None
    assert result.last_failure.decline_code == "insufficient_funds"


async def test_retrieving_an_unknown_intent_is_rejected(provider: StripeProvider,
                                                        stripe_mock: respx.MockRouter) -> None:
    stripe_mock.get("/v1/payment_intents/pi_missing").mock(return_value=stripe_error(
        404, type="invalid_request_error", code="resource_missing", param="intent",
        message="No such payment_intent: 'pi_missing'"))

    with pytest.raises(ProviderRejectedError) as caught:
        await provider.retrieve_payment_intent("pi_missing")

    assert caught.value.code == "resource_missing" and caught.value.http_status == 404


async def test_find_searches_by_metadata_and_prefers_the_succeeded_intent(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    route = stripe_mock.get("/v1/payment_intents/search").respond(200, json={
        "object": "search_result", "url": "/v1/payment_intents/search", "has_more": False, "next_page": None,
        "data": [intent_body(id="pi_new", status="requires_payment_method", created=1680800600),
                 intent_body(id="pi_old", created=1680800504)],
    })

    found = await provider.find_payment_intent(seawall_payment_id="pay_1")

    assert found is not None and found.id == "pi_old"
    assert route.calls.last.request.url.params["query"] == "metadata['seawall_payment_id']:'pay_1'"
    assert "Idempotency-Key" not in route.calls.last.request.headers


async def test_find_answers_none_when_nothing_matches(provider: StripeProvider,
                                                      stripe_mock: respx.MockRouter) -> None:
    stripe_mock.get("/v1/payment_intents/search").respond(200, json={
        "object": "search_result", "data": [], "has_more": False, "next_page": None})

    assert await provider.find_payment_intent(seawall_payment_id="pay_x'y") is None


async def test_refund_sends_the_intent_the_amount_and_metadata(provider: StripeProvider,
                                                               stripe_mock: respx.MockRouter) -> None:
    route = stripe_mock.post("/v1/refunds").respond(200, json={
        "id": "re_1", "object": "refund", "amount": 500, "currency": "usd", "payment_intent": "pi_1",
        "status": "succeeded", "created": 1680800700, "metadata": {"seawall_refund_id": "ref_1"}})

    refund = await provider.create_refund(payment_intent_id="pi_1", amount=500, idempotency_key="ref_1",
                                          metadata={"seawall_refund_id": "ref_1"})

    request = route.calls.last.request
    assert dict(parse_qsl(request.content.decode())) == {
        "payment_intent": "pi_1", "amount": "500", "metadata[seawall_refund_id]": "ref_1"}
    assert request.headers["Idempotency-Key"] == "ref_1"
    assert refund.succeeded and refund.amount == 500 and refund.payment_intent_id == "pi_1"


async def test_an_over_refund_is_rejected(provider: StripeProvider, stripe_mock: respx.MockRouter) -> None:
    stripe_mock.post("/v1/refunds").mock(return_value=stripe_error(
        400, type="invalid_request_error", code="amount_too_large", param="amount",
        message="Refund amount ($30.00) is greater than unrefunded amount on charge ($20.00)"))

    with pytest.raises(ProviderRejectedError) as caught:
        await provider.create_refund(payment_intent_id="pi_1", amount=3000, idempotency_key="ref_1", metadata={})

    assert caught.value.code == "amount_too_large"


def refund_body(**overrides: Any) -> dict[str, Any]:
    body = {"id": "re_1", "object": "refund", "amount": 500, "currency": "usd", "payment_intent": "pi_1",
            "status": "succeeded", "created": 1680800700, "metadata": {"seawall_refund_id": "ref_1"}}
    return body | overrides


async def test_find_refund_lists_the_intents_refunds_page_by_page_and_prefers_a_succeeded_one(
    provider: StripeProvider, stripe_mock: respx.MockRouter
) -> None:
    pages = [
        {"object": "list", "url": "/v1/refunds", "has_more": True,
         "data": [refund_body(id="re_new", status="failed", created=1680800900),
                  refund_body(id="re_other", metadata={"seawall_refund_id": "ref_2"})]},
        {"object": "list", "url": "/v1/refunds", "has_more": False,
         "data": [refund_body(id="re_old", created=1680800700)]},
    ]
    route = stripe_mock.get("/v1/refunds").mock(side_effect=[httpx.Response(200, json=page) for page in pages])

    found = await provider.find_refund(payment_intent_id="pi_1", seawall_refund_id="ref_1")

    assert found is not None and (found.id, found.seawall_refund_id) == ("re_old", "ref_1")
    first, second = (call.request.url.params for call in route.calls)
    assert (first["payment_intent"], first["limit"], first.get("starting_after")) == ("pi_1", "100", None)
    assert second["starting_after"] == "re_other"
    assert "Idempotency-Key" not in route.calls.last.request.headers


async def test_find_refund_answers_none_only_after_the_last_page(provider: StripeProvider,
                                                                 stripe_mock: respx.MockRouter) -> None:
    stripe_mock.get("/v1/refunds").respond(200, json={"object": "list", "has_more": False,
                                                      "data": [refund_body(metadata={})]})

    assert await provider.find_refund(payment_intent_id="pi_1", seawall_refund_id="ref_1") is None


async def test_find_refund_that_cannot_read_every_page_is_an_unknown_outcome_never_none(
    provider: StripeProvider, stripe_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_adapter, "MAX_LIST_PAGES", 3)
    pages = iter(range(10))
    stripe_mock.get("/v1/refunds").mock(side_effect=lambda request: httpx.Response(200, json={
        "object": "list", "has_more": True, "data": [refund_body(id=f"re_{next(pages)}", metadata={})]}))

    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.find_refund(payment_intent_id="pi_1", seawall_refund_id="ref_1")

    assert caught.value.outcome == "unknown"


async def test_an_unreadable_success_is_an_unknown_outcome(provider: StripeProvider,
                                                           stripe_mock: respx.MockRouter) -> None:
    stripe_mock.post("/v1/payment_intents").respond(200, json={"unexpected": True})

    with pytest.raises(ProviderUnavailableError) as caught:
        await charge(provider)

    assert caught.value.outcome == "unknown"


async def test_the_adapter_is_a_payment_provider() -> None:
    async with StripeProvider(api_key=API_KEY) as stripe:
        adapter: PaymentProvider = stripe  # checked by mypy against the Protocol
        assert adapter.name == "stripe"


def test_every_provider_error_is_a_seawall_error() -> None:
    from seawall.errors import SeawallError

    for error_class in (CardDeclinedError, ProviderRejectedError, ProviderUnavailableError):
        assert issubclass(error_class, ProviderError) and issubclass(error_class, SeawallError)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
