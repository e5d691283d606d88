"""OWASP API10:2023 Unsafe Consumption of APIs. Promise: what a provider answers is validated before
Seawall acts on it. A Stripe-compatible provider answering garbage — wrong JSON types, missing
fields, an undocumented status, HTML, a body too large, a redirect, a status it should not send, or
a well-formed answer about another payment — is an *unknown outcome* (`ProviderUnavailableError`,
`outcome="unknown"`): the charge job neither crashes nor settles, the payment stays `processing`
with the outcome marked unknown, and it settles once when the provider answers properly (the
existing rules: look up by payment id, then resend with the same idempotency key). The SMS adapter
validates its answers the same way. Webhook receivers' answers are only ever read as a status code
and 2 KiB of printable text (tests/integration/webhooks).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from seawall.jobs.models import Job
from seawall.kit.clock import FakeClock
from seawall.payments.models import LedgerEntry, Payment
from seawall.providers import ProviderUnavailableError, StripeProvider
from seawall.providers.sms import TwilioSmsSender
from seawall.runtime import Runtime
from tests.integration.payments.conftest import PAYMENT_SETTINGS
from tests.security.wire import new_user, with_key
from tests.support.workers import RunJobs

BASE = "https://stripe.test"
PAYMENT_ID = "pay_1"


def intent(**overrides: Any) -> dict[str, Any]:
    return {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 2000, "amount_received": 2000,
            "currency": "usd", "status": "succeeded", "created": 1680800504, "latest_charge": "ch_1",
            "last_payment_error": None, "metadata": {"seawall_payment_id": PAYMENT_ID}} | overrides


def refund(**overrides: Any) -> dict[str, Any]:
    return {"id": "re_1", "object": "refund", "amount": 500, "currency": "usd", "payment_intent": "pi_1",
            "status": "succeeded", "created": 1680800700, "metadata": {}} | overrides


def json_answer(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


HTML = httpx.Response(200, content=b"<html><body>Welcome to nginx!</body></html>",
                      headers={"Content-Type": "text/html"})
HUGE = json_answer(intent(description="x" * (2 * 1024 * 1024)))
NESTED = httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000, headers={"Content-Type": "application/json"})

# An answer to POST /v1/payment_intents (for amount 2000 usd of pay_1) that Seawall must not believe.
GARBAGE_INTENTS: dict[str, httpx.Response] = {
    "amount-a-string": json_answer(intent(amount="2000")),
    "amount-true": json_answer(intent(amount=True)),
    "amount-a-float": json_answer(intent(amount=2000.0)),
    "amount-negative": json_answer(intent(amount=-2000)),
    "amount-another": json_answer(intent(amount=1)),
    "currency-another": json_answer(intent(currency="eur")),
    "another-payments-intent": json_answer(intent(metadata={"seawall_payment_id": "pay_2"})),
    "no-metadata": json_answer(intent(metadata=None)),
    "status-undocumented": json_answer(intent(status="approved")),
    "status-a-number": json_answer(intent(status=1)),
    "id-an-object": json_answer(intent(id={"id": "pi_1"})),
    "id-missing": json_answer({k: v for k, v in intent().items() if k != "id"}),
    "status-missing": json_answer({k: v for k, v in intent().items() if k != "status"}),
    "created-beyond-datetime": json_answer(intent(created=10**20)),
    "created-a-string": json_answer(intent(created="yesterday")),
    "metadata-not-strings": json_answer(intent(metadata={"seawall_payment_id": 1})),
    "failure-a-string": json_answer(intent(status="requires_payment_method", last_payment_error="declined")),
    "another-object": json_answer(refund(amount=2000)),
    "a-list": json_answer([intent()]),
    "a-string": json_answer("succeeded"),
    "null": json_answer(None),
    "an-error-with-200": json_answer({"error": {"type": "card_error", "code": "card_declined"}}),
    "empty-201": httpx.Response(201),
    "no-content-204": httpx.Response(204),
    "html": HTML,
    "huge": HUGE,
    "deeply-nested": NESTED,
    "redirect": httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
    "informational-status-200-body-html": httpx.Response(200, content=b"OK", headers={"Content-Type": "text/plain"}),
}


@pytest.fixture
def stripe_mock() -> respx.MockRouter:
    return respx.MockRouter(base_url=BASE, assert_all_called=False)


@pytest.fixture
async def stripe(stripe_mock: respx.MockRouter) -> AsyncIterator[StripeProvider]:
    async with StripeProvider(api_key="sk_test_x", api_base=BASE, deadline=2.0,
                              transport=httpx.MockTransport(stripe_mock.async_handler)) as provider:
        yield provider


async def assert_unknown(call: Awaitable[Any]) -> ProviderUnavailableError:
    with pytest.raises(ProviderUnavailableError) as caught:
        await call
    assert caught.value.outcome == "unknown"
    assert caught.value.__cause__ is None
    return caught.value


@pytest.mark.parametrize("answer", GARBAGE_INTENTS.values(), ids=GARBAGE_INTENTS.keys())
async def test_a_garbage_charge_answer_is_an_unknown_outcome(
    stripe: StripeProvider, stripe_mock: respx.MockRouter, answer: httpx.Response,
) -> None:
    stripe_mock.post("/v1/payment_intents").mock(return_value=answer)
    await assert_unknown(stripe.create_payment_intent(
        amount=2000, currency="usd", payment_method="pm_card_visa", idempotency_key=PAYMENT_ID,
        metadata={"seawall_payment_id": PAYMENT_ID}))


async def test_the_same_valid_answer_is_believed(stripe: StripeProvider, stripe_mock: respx.MockRouter) -> None:
    """What the garbage above is measured against: the well-formed answer passes."""
    stripe_mock.post("/v1/payment_intents").mock(return_value=json_answer(intent()))
    result = await stripe.create_payment_intent(amount=2000, currency="usd", payment_method="pm_card_visa",
                                                idempotency_key=PAYMENT_ID, metadata={"seawall_payment_id": PAYMENT_ID})
    assert result.succeeded and result.amount == 2000 and result.seawall_payment_id == PAYMENT_ID


@pytest.mark.parametrize("answer", [
    json_answer(intent(id="pi_other")), json_answer(intent(status="done")), HTML, HUGE,
], ids=["another-intent", "undocumented-status", "html", "huge"])
async def test_a_garbage_retrieve_answer_is_an_unknown_outcome(
    stripe: StripeProvider, stripe_mock: respx.MockRouter, answer: httpx.Response,
) -> None:
    stripe_mock.get("/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa").mock(return_value=answer)
    await assert_unknown(stripe.retrieve_payment_intent("pi_3MtwBwLkdIwHu7ix28a3tqPa"))


@pytest.mark.parametrize("answer", [
    json_answer({"object": "search_result", "data": [intent(metadata={"seawall_payment_id": "pay_2"})]}),
    json_answer({"object": "search_result", "data": "none"}),
    json_answer({"object": "search_result", "data": [intent(amount="2000")]}),
    json_answer({"object": "search_result", "data": [intent()] * 101}),
    json_answer({"object": "list"}),
], ids=["another-payment", "data-a-string", "bad-intent", "too-many", "no-data"])
async def test_a_garbage_search_answer_is_an_unknown_outcome(
    stripe: StripeProvider, stripe_mock: respx.MockRouter, answer: httpx.Response,
) -> None:
    """A search that cannot be read must not read as "no intent" (that would allow a second charge)."""
    stripe_mock.get("/v1/payment_intents/search").mock(return_value=answer)
    await assert_unknown(stripe.find_payment_intent(seawall_payment_id=PAYMENT_ID))


@pytest.mark.parametrize("answer", [
    json_answer(refund(payment_intent="pi_other")), json_answer(refund(amount=5000)),
    json_answer(refund(amount="500")), json_answer(refund(status="refunded")), json_answer(intent()), HTML,
], ids=["another-intent", "another-amount", "amount-a-string", "undocumented-status", "an-intent", "html"])
async def test_a_garbage_refund_answer_is_an_unknown_outcome(
    stripe: StripeProvider, stripe_mock: respx.MockRouter, answer: httpx.Response,
) -> None:
    stripe_mock.post("/v1/refunds").mock(return_value=answer)
    await assert_unknown(stripe.create_refund(payment_intent_id="pi_1", amount=500, idempotency_key="rfd_1",
                                              metadata={}))


@pytest.mark.parametrize("answer", [
    json_answer({"object": "list", "data": [refund(payment_intent="pi_other")], "has_more": False}),
    json_answer({"object": "list", "data": [refund(amount="500")], "has_more": False}),
    json_answer({"object": "list", "data": [refund()], "has_more": "no"}),
    json_answer({"object": "list", "data": [refund()]}),
    json_answer({"object": "list", "data": [refund()] * 101, "has_more": False}),
    json_answer({"object": "search_result", "data": [], "has_more": False}), HTML,
], ids=["another-intent", "amount-a-string", "has-more-a-string", "has-more-missing", "too-many", "not-a-list",
        "html"])
async def test_a_garbage_refund_list_is_an_unknown_outcome(
    stripe: StripeProvider, stripe_mock: respx.MockRouter, answer: httpx.Response,
) -> None:
    """The refund look-up after an unknown outcome: unreadable must not read as "never refunded"."""
    stripe_mock.get("/v1/refunds").mock(return_value=answer)
    await assert_unknown(stripe.find_refund(payment_intent_id="pi_1", seawall_refund_id="rfd_1"))


@pytest.mark.parametrize("answer", [
    json_answer({"sid": 5, "status": "queued"}), json_answer({"sid": "SM<script>", "status": "queued"}),
    json_answer({"status": "queued"}), json_answer({"sid": "SM1", "status": None}), HTML,
    json_answer({"sid": "SM1", "status": "queued", "body": "x" * (2 * 1024 * 1024)}),
], ids=["sid-a-number", "sid-markup", "sid-missing", "status-null", "html", "huge"])
async def test_a_garbage_sms_answer_is_an_unknown_outcome(answer: httpx.Response) -> None:
    router = respx.MockRouter(base_url="https://sms.test", assert_all_called=False)
    router.post(url__regex=r".*/Messages\.json$").mock(return_value=answer)
    async with TwilioSmsSender(api_base="https://sms.test", account_sid="AC1", auth_token="token",
                               from_number="+15005550006",
                               transport=httpx.MockTransport(router.async_handler)) as sms:
        await assert_unknown(sms.send_sms(to="+15005550010", body="hi", idempotency_key="ntf_1"))


# ---- end to end: the charge job against a provider that answers garbage -----------------------------

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class LyingProvider:
    """A Stripe-compatible HTTP server on loopback whose answers the test sets: `charge(body)` answers
    POST /v1/payment_intents, `search(payment_id)` the search. It records each request line."""

    charge: Callable[[dict[str, str]], Answer]
    search: Callable[[str], Answer]
    requests: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        self.requests.append(request_line)
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        form = dict(httpx.QueryParams((await reader.readexactly(length)).decode()))
        if request_line.startswith("POST /v1/payment_intents "):
            status, headers, body = self.charge(form)
        else:
            query = httpx.URL(request_line.split(" ")[1]).params.get("query", "")
            status, headers, body = self.search(query.split(":'")[-1].rstrip("'"))
        head_lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close",
                      *(f"{name}: {value}" for name, value in headers.items())]
        writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()


def as_answer(response: httpx.Response) -> Answer:
    headers = {name: value for name, value in response.headers.items() if name.lower() != "content-length"}
    return response.status_code, headers, response.content


def truthful_intent(form: dict[str, str], **overrides: Any) -> dict[str, Any]:
    payment_id = form.get("metadata[seawall_payment_id]", "")
    return intent(id=f"pi_{payment_id.removeprefix('pay_')}", amount=int(form.get("amount", 0)),
                  amount_received=int(form.get("amount", 0)), currency=form.get("currency"),
                  metadata={"seawall_payment_id": payment_id}) | overrides


def no_intent(_payment_id: str) -> Answer:
    return as_answer(json_answer({"object": "search_result", "data": [], "has_more": False}))


@pytest.fixture
async def provider_server() -> AsyncIterator[LyingProvider]:
    liar = LyingProvider(charge=lambda form: as_answer(json_answer(truthful_intent(form))), search=no_intent)
    server = await asyncio.start_server(liar.handle, "127.0.0.1", 0)
    liar.port = server.sockets[0].getsockname()[1]
    try:
        yield liar
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def app_clock(fake_clock: FakeClock) -> FakeClock:
    """The API queues the charge on the clock the one-shot worker (`run_jobs`) runs on."""
    return fake_clock


@pytest.fixture
def settings_overrides(provider_server: LyingProvider) -> dict[str, Any]:
    return {**PAYMENT_SETTINGS, "stripe_api_base": f"http://127.0.0.1:{provider_server.port}"}


# Each is a wrong answer to the charge that would, believed, settle the payment with the wrong result.
LIES: dict[str, Callable[[dict[str, str]], httpx.Response]] = {
    "amount-a-string": lambda form: json_answer(truthful_intent(form, amount=form["amount"])),
    "amount-true": lambda form: json_answer(truthful_intent(form, amount=True, amount_received=True)),
    "another-payment": lambda form: json_answer(truthful_intent(form, metadata={"seawall_payment_id": "pay_x"})),
    "status-undocumented": lambda form: json_answer(truthful_intent(form, status="approved")),
    "failed-with-garbage-failure": lambda form: json_answer(
        truthful_intent(form, status="requires_payment_method", last_payment_error=["declined"])),
    "html": lambda form: HTML,
    "huge": lambda form: json_answer(truthful_intent(form, description="x" * (2 * 1024 * 1024))),
    "redirect": lambda form: httpx.Response(307, headers={"Location": "http://127.0.0.1:9/v1/payment_intents"}),
}


async def payment_row(runtime: Runtime, payment_id: str) -> tuple[Payment, list[LedgerEntry], Job]:
    async with runtime.database.transaction() as session:
        payment = await session.get(Payment, payment_id)
        entries = list((await session.execute(
            select(LedgerEntry).where(LedgerEntry.payment_id == payment_id))).scalars())
        job = (await session.execute(select(Job).where(Job.kind == "payments.charge"))).scalars().one()
    assert payment is not None
    return payment, entries, job


@pytest.mark.parametrize("lie", LIES.values(), ids=LIES.keys())
async def test_a_lying_provider_never_settles_a_payment_and_the_truth_later_does(
    client: httpx.AsyncClient, runtime: Runtime, run_jobs: RunJobs, fake_clock: FakeClock,
    provider_server: LyingProvider, lie: Callable[[dict[str, str]], httpx.Response],
) -> None:
    user = await new_user(client, "payer")
    provider_server.charge = lambda form: as_answer(lie(form))
    created = await client.post("/v1/payments", headers=with_key(user),
                                json={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"})
    payment_id = created.json()["id"]

    await run_jobs()

    payment, entries, job = await payment_row(runtime, payment_id)
    assert (payment.status, payment.provider_outcome_unknown, entries) == ("processing", True, [])
    assert job.status == "queued" and job.attempts == 1  # retried, not crashed into the dead letters
    assert job.last_error is not None  # a planned retry after an unknown outcome, not an unexpected exception
    assert job.last_error.startswith("seawall.jobs.errors.RetryableJobError: stripe: "), job.last_error
    assert provider_server.requests == ["POST /v1/payment_intents HTTP/1.1"]  # and no redirect followed

    # The provider now tells the truth: the intent it took is found by payment id, and settled once.
    provider_server.search = lambda paid: as_answer(json_answer({"object": "search_result", "data": [
        truthful_intent({"metadata[seawall_payment_id]": paid, "amount": "2000", "currency": "usd"})]}))
    fake_clock.advance(600)
    await run_jobs()

    payment, entries, job = await payment_row(runtime, payment_id)
    assert (payment.status, job.status) == ("succeeded", "succeeded")
    assert payment.provider_intent_id == f"pi_{payment_id.removeprefix('pay_')}"
    assert len({entry.transaction_id for entry in entries}) == 1 and {entry.amount for entry in entries} == {2000}
    assert [line.split(" ")[0] for line in provider_server.requests] == ["POST", "GET"]  # looked up, not re-sent
