"""The charge and refund handler rules (`payments.charge`, `payments.refund`), judged by their public
effects: the payment's and refund's status, the calls the provider received, and the job error the
handler raised (what the engine then does with it — retry, defer — is the engine's, tested there).

Each test runs the handlers alone (`handlers` fixture: an in-memory SQLite database, no file and no
server) against a `ScriptedPaymentProvider`; payments and refunds are created through the payments
service, as the API creates them.
"""

from __future__ import annotations

import itertools

import pytest

from seawall.accounts import service as accounts
from seawall.jobs import DeferJobError, RetryableJobError
from seawall.payments import service as payments
from seawall.payments.gateway import FALLBACK, PRIMARY, build_gateway
from seawall.payments.models import Payment, Refund
from seawall.providers.errors import CardDeclinedError, ProviderRejectedError, ProviderUnavailableError
from seawall.providers.payments import SEAWALL_PAYMENT_ID_KEY, SEAWALL_REFUND_ID_KEY
from tests.support.fakes import PlainPasswords, ScriptedPaymentProvider, intent, refund
from tests.support.handlers import HandlerHarness

CHARGE, REFUND = "payments.charge", "payments.refund"
_emails = itertools.count(1)


def unavailable(outcome: str = "unknown") -> ProviderUnavailableError:
    return ProviderUnavailableError(f"stripe: 503 ({outcome})", provider=PRIMARY, outcome=outcome)  # type: ignore[arg-type]


async def new_payment(handlers: HandlerHarness, *, amount: int = 2000) -> str:
    """A user and a pending payment, as `POST /v1/payments` leaves them."""
    async with handlers.database.transaction() as session:
        signed = await accounts.sign_up(session, passwords=PlainPasswords(),  # type: ignore[arg-type]
                                        clock=handlers.clock, email=f"payer{next(_emails)}@example.com",
                                        password="correct horse battery staple")
        payment = await payments.create_payment(session, clock=handlers.clock, user_id=signed.user.id,
                                                amount=amount, currency="usd", payment_method="pm_card_visa",
                                                description="unit test")
    return payment.id


async def load_payment(handlers: HandlerHarness, payment_id: str) -> Payment:
    async with handlers.database.read_transaction() as session:
        payment = await session.get(Payment, payment_id)
    assert payment is not None
    return payment


async def load_refund(handlers: HandlerHarness, refund_id: str) -> Refund:
    async with handlers.database.read_transaction() as session:
        found = await session.get(Refund, refund_id)
    assert found is not None
    return found


async def charged_payment(handlers: HandlerHarness, *, amount: int = 2000) -> str:
    payment_id = await new_payment(handlers, amount=amount)
    handlers.provider.script("create_payment_intent", intent(id="pi_charged", amount=amount, payment_id=payment_id))
    assert await handlers.run(CHARGE, {"payment_id": payment_id}) is None
    return payment_id


async def new_refund(handlers: HandlerHarness, *, amount: int | None = None) -> str:
    payment_id = await charged_payment(handlers)
    payment = await load_payment(handlers, payment_id)
    async with handlers.database.transaction() as session:
        created = await payments.request_refund(session, clock=handlers.clock, user_id=payment.user_id,
                                                payment_id=payment_id, amount=amount)
    return created.id


# -- payments.charge ----------------------------------------------------------------------------------


async def test_a_succeeded_intent_settles_the_payment_and_is_created_under_the_payment_id(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", intent(id="pi_1", payment_id=payment_id))

    assert await handlers.run(CHARGE, {"payment_id": payment_id}) is None

    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.provider_intent_id, payment.route_name) == ("succeeded", "pi_1", PRIMARY)
    [call] = handlers.provider.calls
    assert call.method == "create_payment_intent"
    assert call.arguments["idempotency_key"] == payment_id
    assert call.arguments["metadata"] == {SEAWALL_PAYMENT_ID_KEY: payment_id}
    assert (call.arguments["amount"], call.arguments["currency"]) == (2000, "usd")


async def test_a_declined_card_fails_the_payment_without_a_retry(handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", CardDeclinedError(
        "Your card has insufficient funds.", provider=PRIMARY, code="card_declined",
        decline_code="insufficient_funds", payment_intent_id="pi_declined"))

    assert await handlers.run(CHARGE, {"payment_id": payment_id}) is None

    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.failure_code, payment.provider_intent_id) == (
        "failed", "insufficient_funds", "pi_declined")
    assert handlers.provider.methods() == ["create_payment_intent"]


async def test_a_request_the_provider_refuses_fails_the_payment_on_the_first_attempt(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", ProviderRejectedError(
        "No such PaymentMethod", provider=PRIMARY, code="resource_missing", http_status=400))

    assert await handlers.run(CHARGE, {"payment_id": payment_id}) is None

    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.failure_code) == ("failed", "resource_missing")


async def test_an_unavailable_provider_is_retryable_and_leaves_the_payment_processing(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("unknown"))

    error = await handlers.run(CHARGE, {"payment_id": payment_id})

    assert type(error) is RetryableJobError
    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.provider_outcome_unknown) == ("processing", True)


async def test_a_request_certainly_not_sent_is_retryable_and_does_not_count_as_maybe_charged(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("not_processed"))

    error = await handlers.run(CHARGE, {"payment_id": payment_id})

    assert type(error) is RetryableJobError
    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.provider_outcome_unknown) == ("processing", False)


async def test_after_an_unknown_outcome_the_next_attempt_looks_the_intent_up_and_settles_from_it(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("unknown"))
    assert isinstance(await handlers.run(CHARGE, {"payment_id": payment_id}), RetryableJobError)
    handlers.provider.script("find_payment_intent", intent(id="pi_found", payment_id=payment_id))

    assert await handlers.run(CHARGE, {"payment_id": payment_id}, attempt=2) is None

    assert handlers.provider.methods() == ["create_payment_intent", "find_payment_intent"]
    assert handlers.provider.calls[1].arguments == {"seawall_payment_id": payment_id}
    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.provider_intent_id) == ("succeeded", "pi_found")


async def test_after_an_unknown_outcome_with_no_intent_found_it_sends_again_with_the_same_key(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("unknown"), intent(payment_id=payment_id))
    handlers.provider.script("find_payment_intent", None)
    assert isinstance(await handlers.run(CHARGE, {"payment_id": payment_id}), RetryableJobError)

    assert await handlers.run(CHARGE, {"payment_id": payment_id}, attempt=2) is None

    assert handlers.provider.methods() == ["create_payment_intent", "find_payment_intent", "create_payment_intent"]
    keys = [call.arguments["idempotency_key"] for call in handlers.provider.calls
            if call.method == "create_payment_intent"]
    assert keys == [payment_id, payment_id]
    assert (await load_payment(handlers, payment_id)).status == "succeeded"


async def test_a_refusal_after_an_unknown_outcome_is_retried_never_settled_as_failed(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("unknown"))
    assert isinstance(await handlers.run(CHARGE, {"payment_id": payment_id}), RetryableJobError)
    handlers.provider.script("find_payment_intent", ProviderRejectedError(
        "Invalid API Key provided", provider=PRIMARY, http_status=401))

    error = await handlers.run(CHARGE, {"payment_id": payment_id}, attempt=2)

    assert type(error) is RetryableJobError
    assert (await load_payment(handlers, payment_id)).status == "processing"


async def test_an_intent_found_without_a_final_outcome_is_checked_again_later_never_sent_again(
        handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("unknown"))
    assert isinstance(await handlers.run(CHARGE, {"payment_id": payment_id}), RetryableJobError)
    handlers.provider.script("find_payment_intent", intent("processing", id="pi_found", payment_id=payment_id))

    error = await handlers.run(CHARGE, {"payment_id": payment_id}, attempt=2)

    assert type(error) is RetryableJobError
    assert handlers.provider.methods() == ["create_payment_intent", "find_payment_intent"]
    assert (await load_payment(handlers, payment_id)).status == "processing"


async def test_an_intent_without_a_final_outcome_is_checked_again_later(handlers: HandlerHarness) -> None:
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", intent("processing", payment_id=payment_id))

    error = await handlers.run(CHARGE, {"payment_id": payment_id})

    assert type(error) is RetryableJobError
    assert (await load_payment(handlers, payment_id)).status == "processing"


async def test_an_already_settled_payment_is_not_charged_again(handlers: HandlerHarness) -> None:
    payment_id = await charged_payment(handlers)

    assert await handlers.run(CHARGE, {"payment_id": payment_id}, attempt=2) is None

    assert handlers.provider.methods() == ["create_payment_intent"]
    assert (await load_payment(handlers, payment_id)).status == "succeeded"


async def test_a_primary_that_certainly_did_not_take_the_charge_fails_over_at_once(handlers: HandlerHarness) -> None:
    fallback = ScriptedPaymentProvider(FALLBACK)
    routes = {PRIMARY: handlers.provider, FALLBACK: fallback}
    settings = handlers.settings.model_copy(update={"payments_fallback_api_base": "http://fallback.invalid"})
    handlers.runtime.payments = build_gateway(settings, provider_factory=lambda name, base, key: routes[name])
    payment_id = await new_payment(handlers)
    handlers.provider.script("create_payment_intent", unavailable("not_processed"))
    fallback.script("create_payment_intent", intent(id="pi_fallback", payment_id=payment_id))

    error = await handlers.run(CHARGE, {"payment_id": payment_id})
    assert isinstance(error, DeferJobError) and error.retry_after == 0.0
    assert (await load_payment(handlers, payment_id)).route_name == FALLBACK
    assert await handlers.run(CHARGE, {"payment_id": payment_id}, attempt=2) is None

    payment = await load_payment(handlers, payment_id)
    assert (payment.status, payment.route_name, payment.provider_intent_id) == ("succeeded", FALLBACK, "pi_fallback")
    assert fallback.calls[0].arguments["idempotency_key"] == payment_id


# -- payments.refund ----------------------------------------------------------------------------------


async def test_a_succeeded_refund_settles_the_refund_and_the_payment(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", refund(id="re_1", payment_intent_id="pi_charged"))

    assert await handlers.run(REFUND, {"refund_id": refund_id}) is None

    found = await load_refund(handlers, refund_id)
    assert (found.status, found.provider_refund_id) == ("succeeded", "re_1")
    assert (await load_payment(handlers, found.payment_id)).status == "refunded"
    call = handlers.provider.calls[-1]
    assert (call.method, call.arguments["payment_intent_id"], call.arguments["idempotency_key"]) == (
        "create_refund", "pi_charged", refund_id)
    assert call.arguments["amount"] == 2000


async def test_a_partial_refund_leaves_the_payment_partially_refunded(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers, amount=500)
    handlers.provider.script("create_refund", refund(amount=500))

    assert await handlers.run(REFUND, {"refund_id": refund_id}) is None

    found = await load_refund(handlers, refund_id)
    payment = await load_payment(handlers, found.payment_id)
    assert (found.status, payment.status, payment.amount_refunded) == ("succeeded", "partially_refunded", 500)


async def test_a_refund_refused_on_its_first_attempt_fails_without_a_retry(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", ProviderRejectedError(
        "Charge has already been refunded.", provider=PRIMARY, http_status=400))

    assert await handlers.run(REFUND, {"refund_id": refund_id}) is None

    found = await load_refund(handlers, refund_id)
    assert found.status == "failed" and "already been refunded" in (found.failure_message or "")
    assert (await load_payment(handlers, found.payment_id)).status == "succeeded"


async def test_a_refund_refused_on_a_later_attempt_is_retried_since_an_earlier_one_may_have_run(
        handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("find_refund", None)
    handlers.provider.script("create_refund", ProviderRejectedError("refused", provider=PRIMARY, http_status=400))

    error = await handlers.run(REFUND, {"refund_id": refund_id}, attempt=2)

    assert type(error) is RetryableJobError
    assert (await load_refund(handlers, refund_id)).status == "pending"
    assert handlers.provider.methods()[-2:] == ["find_refund", "create_refund"]


async def test_a_refund_is_sent_under_its_id_and_marked_as_maybe_sent_before_the_call(
        handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", unavailable("unknown"))

    assert type(await handlers.run(REFUND, {"refund_id": refund_id})) is RetryableJobError

    found = await load_refund(handlers, refund_id)
    assert (found.status, found.provider_outcome_unknown) == ("pending", True)
    call = handlers.provider.calls[-1]
    assert call.arguments["metadata"][SEAWALL_REFUND_ID_KEY] == refund_id
    assert call.arguments["idempotency_key"] == refund_id


async def test_a_refund_request_certainly_not_sent_does_not_count_as_maybe_refunded(
        handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", unavailable("not_processed"))

    assert type(await handlers.run(REFUND, {"refund_id": refund_id})) is RetryableJobError

    assert (await load_refund(handlers, refund_id)).provider_outcome_unknown is False


@pytest.mark.parametrize(("status", "expected"), [("succeeded", "succeeded"), ("failed", "failed"),
                                                  ("canceled", "failed")])
async def test_after_an_unknown_outcome_the_refund_found_at_the_provider_is_adopted_never_sent_again(
        status: str, expected: str, handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers, amount=500)
    handlers.provider.script("create_refund", unavailable("unknown"))
    assert type(await handlers.run(REFUND, {"refund_id": refund_id})) is RetryableJobError
    handlers.provider.script("find_refund", refund(status, id="re_found", amount=500, refund_id=refund_id))

    assert await handlers.run(REFUND, {"refund_id": refund_id}) is None  # e.g. replayed: attempt 1 again

    assert handlers.provider.methods()[-2:] == ["create_refund", "find_refund"]
    assert handlers.provider.calls[-1].arguments == {"payment_intent_id": "pi_charged", "seawall_refund_id": refund_id}
    found = await load_refund(handlers, refund_id)
    assert (found.status, found.provider_refund_id) == (expected, "re_found")
    payment = await load_payment(handlers, found.payment_id)
    assert payment.amount_refunded == (500 if expected == "succeeded" else 0)


async def test_a_pending_refund_found_at_the_provider_is_checked_again_later_never_sent_again(
        handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", unavailable("unknown"))
    assert type(await handlers.run(REFUND, {"refund_id": refund_id})) is RetryableJobError
    handlers.provider.script("find_refund", refund("pending", id="re_pending", refund_id=refund_id))

    assert type(await handlers.run(REFUND, {"refund_id": refund_id}, attempt=2)) is RetryableJobError

    assert handlers.provider.methods().count("create_refund") == 1
    found = await load_refund(handlers, refund_id)
    assert found.status == "pending"


async def test_after_an_unknown_outcome_with_no_refund_found_it_sends_again_with_the_same_key(
        handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", unavailable("unknown"), refund(id="re_2", refund_id=refund_id))
    handlers.provider.script("find_refund", None)
    assert type(await handlers.run(REFUND, {"refund_id": refund_id})) is RetryableJobError

    assert await handlers.run(REFUND, {"refund_id": refund_id}, attempt=2) is None

    assert handlers.provider.methods()[-3:] == ["create_refund", "find_refund", "create_refund"]
    keys = [c.arguments["idempotency_key"] for c in handlers.provider.calls if c.method == "create_refund"]
    assert keys == [refund_id, refund_id]
    assert (await load_refund(handlers, refund_id)).status == "succeeded"


@pytest.mark.parametrize("failure", ["unknown", "not_processed", "timeout", "refused"])
async def test_a_failed_refund_lookup_is_retried_and_never_sends_blind(failure: str, handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", unavailable("unknown"))
    assert type(await handlers.run(REFUND, {"refund_id": refund_id})) is RetryableJobError
    errors: dict[str, Exception] = {
        "unknown": unavailable("unknown"), "not_processed": unavailable("not_processed"), "timeout": TimeoutError(),
        "refused": ProviderRejectedError("Invalid API Key provided", provider=PRIMARY, http_status=401)}
    handlers.provider.script("find_refund", errors[failure])

    error = await handlers.run(REFUND, {"refund_id": refund_id}, attempt=2)

    assert isinstance(error, RetryableJobError)
    assert handlers.provider.methods().count("create_refund") == 1
    found = await load_refund(handlers, refund_id)
    assert (found.status, found.provider_outcome_unknown) == ("pending", True)


async def test_an_unavailable_provider_leaves_the_refund_pending_for_a_retry(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", unavailable("unknown"))

    error = await handlers.run(REFUND, {"refund_id": refund_id})

    assert type(error) is RetryableJobError
    assert (await load_refund(handlers, refund_id)).status == "pending"


async def test_a_refund_the_provider_reports_pending_is_checked_again_later(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", refund("pending"))

    error = await handlers.run(REFUND, {"refund_id": refund_id})

    assert type(error) is RetryableJobError
    assert (await load_refund(handlers, refund_id)).status == "pending"


async def test_a_refund_the_provider_reports_failed_fails(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", refund("failed", id="re_failed"))

    assert await handlers.run(REFUND, {"refund_id": refund_id}) is None

    found = await load_refund(handlers, refund_id)
    assert (found.status, found.provider_refund_id) == ("failed", "re_failed")


async def test_an_already_settled_refund_makes_no_provider_call(handlers: HandlerHarness) -> None:
    refund_id = await new_refund(handlers)
    handlers.provider.script("create_refund", refund())
    assert await handlers.run(REFUND, {"refund_id": refund_id}) is None

    assert await handlers.run(REFUND, {"refund_id": refund_id}, attempt=2) is None

    assert handlers.provider.methods() == ["create_payment_intent", "create_refund"]
