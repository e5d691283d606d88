"""Inbound Stripe webhooks (`POST /v1/providers/stripe/events`), judged at the provider and the SMTP sink.

Promises:
- only a request signed as Stripe documents it is accepted (any `v1` under any configured secret,
  timestamp within 300 s); anything else is a 400 `invalid_signature` that stores and enqueues
  nothing; with no secret configured the route is off (404);
- an event is stored once per event id and applied once: a redelivery answers 2xx and does nothing;
- an event and the charge or refund job that report the same fact settle it once, whichever comes
  first — one capture in the ledger, one receipt mail at the sink; out-of-order events never move a
  settled payment back;
- a refund made in the provider's dashboard is recorded (by its provider refund id), written to the
  ledger and mailed to the user exactly once; a dispute flags the payment and writes the withdrawn
  funds to the ledger; the ledger balances after each.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.embedded import EmbeddedHttpServer
from seawall.sandbox.smtp import SmtpSink
from seawall.sandbox.stripe_webhooks import sign
from tests.integration.accounts.wire import assert_error
from tests.integration.payments.conftest import PAYMENT_SETTINGS
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    assert_ledger_ok,
    load_payment,
    post_payment,
    refunds_of,
)
from tests.integration.payments.stripe_events_wire import (
    OLD_SECRET,
    SECRET,
    apply_jobs,
    balances,
    mails_with_subject,
    outcome_of,
    point_sandbox_at,
    post_event,
    stored_events,
    stripe_event,
)
from tests.support.apps import StartApp, asgi_client
from tests.support.workers import RunJobs

AMOUNT = 2000
RECEIPT = "Your receipt"
REFUND_RECEIPT = "Refund of"
PAST_RETRIES_SECONDS = 400.0  # past the charge job's backoff cap (300 s) and the event job's retries


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"smtp_port": 0}


@pytest.fixture
def settings_overrides(sandbox: SandboxServer, sink: SmtpSink) -> dict[str, Any]:
    # No test here injects slowness: generous timeouts keep a loaded machine from failing a charge attempt,
    # whose retry would wait for the fake clock.
    return {**PAYMENT_SETTINGS, "provider_read_timeout_seconds": 10.0, "provider_total_timeout_seconds": 15.0,
            "stripe_api_base": sandbox.base_url, "smtp_host": "127.0.0.1",
            "smtp_port": sink.port, "smtp_security": "none", "stripe_webhook_secrets": SecretStr(SECRET)}


@pytest.fixture
def app_clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock  # jobs the API enqueues are due for `run_jobs`, which runs on this clock


@pytest.fixture
async def api_server(app: FastAPI) -> AsyncIterator[EmbeddedHttpServer]:
    """The test's `app` on a loopback port, so the sandbox's webhook sender can reach it."""
    server = EmbeddedHttpServer(app, host="127.0.0.1", port=0, name="seawall api")
    await server.serve()
    try:
        yield server
    finally:
        await server.stop()


async def captured(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, run_jobs: RunJobs,
                   *, payment_method: str = "pm_card_visa") -> tuple[str, str]:
    """A payment charged by its job: (payment id, intent id)."""
    payment_id = str((await post_payment(client, auth, amount=AMOUNT, payment_method=payment_method))["id"])
    await run_jobs()
    payment = await load_payment(runtime.database, payment_id)
    assert payment.provider_intent_id is not None, payment.status
    return payment_id, payment.provider_intent_id


async def deliver(sandbox: SandboxServer, run_jobs: RunJobs) -> None:
    """Wait for the sandbox's deliveries to end, then run every due job (events, mails)."""
    await sandbox.state.stripe_webhooks.idle()
    await run_jobs()


# -- the signature ---------------------------------------------------------------------------------

async def test_only_a_request_signed_as_stripe_documents_is_accepted(
    client: httpx.AsyncClient, runtime: Runtime, fake_clock: FakeClock,
) -> None:
    good = stripe_event("payment_intent.succeeded", {"id": "pi_unknown_1"})
    accepted = await post_event(client, good)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"received": True, "id": json.loads(good)["id"], "type": "payment_intent.succeeded",
                               "duplicate": False}

    other = stripe_event("payment_intent.succeeded", {"id": "pi_unknown_2"})
    now = int(fake_clock.now().timestamp())  # the app's clock
    refused = [
        await post_event(client, other, secrets=["whsec_not_ours"]),  # wrong secret
        await post_event(client, other, timestamp=now - 301),  # stale
        await post_event(client, other, timestamp=now + 301),  # from the future
        await client.post("/v1/providers/stripe/events", content=other),  # no header
        await post_event(client, other, header="t=1,v1=zz"),  # malformed
        await post_event(client, other.replace(b"pi_unknown_2", b"pi_unknown_3"),  # tampered body
                         header=sign(other, [SECRET], timestamp=now)),
    ]
    for response in refused:
        assert_error(response, 400, "invalid_signature")
    assert_error(await post_event(client, b'{"object": "list"}'), 400, "bad_request")  # signed, but no event

    rotated = stripe_event("payment_intent.succeeded", {"id": "pi_unknown_4"})
    both = await post_event(client, rotated, secrets=["whsec_retired", SECRET])  # two v1, one ours
    assert both.status_code == 200, both.text
    assert {e.event_id for e in await stored_events(runtime.database)} == {
        json.loads(good)["id"], json.loads(rotated)["id"]}
    assert len(await apply_jobs(runtime.database)) == 2  # nothing refused reached the outbox


async def test_during_a_rotation_either_configured_secret_is_accepted(started_app: StartApp) -> None:
    app = await started_app(stripe_webhook_secrets=SecretStr(f"{SECRET}, {OLD_SECRET}"))
    async with asgi_client(app) as http:
        for secret in (OLD_SECRET, SECRET):
            response = await post_event(http, stripe_event("charge.refunded", {"id": "ch_x"}), secrets=[secret])
            assert response.status_code == 200, response.text
        assert_error(await post_event(http, stripe_event("charge.refunded", {"id": "ch_y"}), secrets=["whsec_x"]),
                     400, "invalid_signature")


async def test_with_no_secret_configured_the_route_is_off(started_app: StartApp, runtime: Runtime) -> None:
    app = await started_app(stripe_webhook_secrets=None)
    async with asgi_client(app) as http:
        assert_error(await post_event(http, stripe_event("charge.refunded", {"id": "ch_x"})), 404, "not_found")
    assert await stored_events(runtime.database) == []


# -- dedup and unknown payments -----------------------------------------------------------------------

async def test_a_redelivered_event_answers_2xx_and_does_nothing_more(
    client: httpx.AsyncClient, runtime: Runtime, run_jobs: RunJobs,
) -> None:
    body = stripe_event("payment_intent.succeeded", {"id": "pi_nobody", "object": "payment_intent",
                                                     "status": "succeeded", "amount": 500, "currency": "usd",
                                                     "created": 1, "metadata": {}})
    racing = await asyncio.gather(*(post_event(client, body) for _ in range(5)))  # deliveries racing each other
    assert [r.status_code for r in racing] == [200] * 5
    assert sorted(r.json()["duplicate"] for r in racing) == [False, True, True, True, True]
    await run_jobs()
    third = await post_event(client, body)  # after it was applied, too
    assert (third.status_code, third.json()["duplicate"]) == (200, True)
    (stored,) = await stored_events(runtime.database)
    (job,) = await apply_jobs(runtime.database)
    assert (stored.outcome, job.status) == ("unknown_payment", "succeeded")  # stored and logged, not an error


# -- intents: whichever of the event and the charge job comes first settles --------------------------

async def test_events_that_arrive_before_the_charge_job_learns_the_outcome_settle_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs, fake_clock: FakeClock,
) -> None:
    point_sandbox_at(sandbox, api_server, hold=True, faults={"duplicate_rate": 1.0, "seed": 1})
    sandbox.set_faults(lost_response_rate=1.0, methods=["POST"])  # the charges are made, their answers lost
    paid = str((await post_payment(client, auth, amount=AMOUNT))["id"])
    declined = str((await post_payment(client, auth, payment_method="pm_card_chargeDeclined"))["id"])
    await run_jobs()
    for payment_id in (paid, declined):
        assert (await load_payment(runtime.database, payment_id)).status == "processing"

    assert sandbox.state.stripe_webhooks.release() == 2
    await deliver(sandbox, run_jobs)  # the events, each delivered twice, settle the payments
    for kind, payment_id, status in (("payment_intent.succeeded", paid, "succeeded"),
                                     ("payment_intent.payment_failed", declined, "failed")):
        (event,) = sandbox.state.stripe_webhooks.events_of(kind)
        assert [a.status_code for a in sandbox.state.stripe_webhooks.deliveries_of(event["id"])] == [200, 200]
        assert (await load_payment(runtime.database, payment_id)).status == status
        assert await outcome_of(runtime.database, event["id"]) == "applied"
    assert (await load_payment(runtime.database, declined)).failure_code == "generic_decline"

    sandbox.set_faults()
    fake_clock.advance(PAST_RETRIES_SECONDS)
    await run_jobs()  # the charge jobs find the intents: already settled, nothing more
    assert len(mails_with_subject(sink, RECEIPT)) == 1
    assert len(mails_with_subject(sink, "Your payment of")) == 1  # the failure notice
    assert sink.duplicates() == {}
    await assert_agrees_with_provider(runtime.database, sandbox, [paid, declined])


async def test_events_after_the_charge_job_settled_change_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs,
) -> None:
    point_sandbox_at(sandbox, api_server, hold=True)
    paid, _intent = await captured(client, auth, runtime, run_jobs)
    declined = str((await post_payment(client, auth, payment_method="pm_card_chargeDeclined"))["id"])
    await run_jobs()
    assert (await load_payment(runtime.database, declined)).status == "failed"

    assert sandbox.state.stripe_webhooks.release() == 2
    await deliver(sandbox, run_jobs)
    for event in sandbox.state.stripe_webhooks.events:
        assert await outcome_of(runtime.database, event["id"]) == "already_settled"
    assert len(mails_with_subject(sink, RECEIPT)) == 1
    assert {job.status for job in await apply_jobs(runtime.database)} == {"succeeded"}
    await assert_agrees_with_provider(runtime.database, sandbox, [paid, declined])


async def test_a_failure_event_after_success_never_moves_the_payment_back(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, run_jobs: RunJobs,
) -> None:
    payment_id, intent_id = await captured(client, auth, runtime, run_jobs)
    failed_intent = {**sandbox.state.payments.intents[intent_id].to_stripe(), "status": "requires_payment_method",
                     "last_payment_error": {"type": "card_error", "code": "card_declined", "message": "late"}}
    body = stripe_event("payment_intent.payment_failed", failed_intent)
    assert (await post_event(client, body)).status_code == 200
    await run_jobs()
    assert await outcome_of(runtime.database, json.loads(body)["id"]) == "already_settled"
    assert (await load_payment(runtime.database, payment_id)).status == "succeeded"
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


async def test_events_delivered_out_of_order_settle_in_the_order_of_the_rules(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs, fake_clock: FakeClock,
) -> None:
    """charge.refunded arrives before payment_intent.succeeded, while the charge job still does not
    know the outcome: the refund waits for the capture, then both apply once."""
    point_sandbox_at(sandbox, api_server, hold=True)
    sandbox.set_faults(lost_response_rate=1.0, methods=["POST"])
    payment_id = str((await post_payment(client, auth, amount=AMOUNT))["id"])
    await run_jobs()
    sandbox.set_faults()
    (intent,) = sandbox.state.intents_for(payment_id)
    async with httpx.AsyncClient(base_url=sandbox.base_url) as provider:
        refund = await provider.post(f"/_sandbox/payments/intents/{intent.id}/dashboard_refund", json={"amount": 500})
        assert refund.status_code == 200, refund.text

    assert sandbox.state.stripe_webhooks.release("reverse") == 2
    await deliver(sandbox, run_jobs)
    succeeded, refunded = (sandbox.state.stripe_webhooks.events_of(kind)[0]
                           for kind in ("payment_intent.succeeded", "charge.refunded"))
    assert await outcome_of(runtime.database, succeeded["id"]) == "applied"
    assert await outcome_of(runtime.database, refunded["id"]) is None  # waits for the capture
    fake_clock.advance(PAST_RETRIES_SECONDS)
    await run_jobs()
    assert await outcome_of(runtime.database, refunded["id"]) == "applied"

    payment = await load_payment(runtime.database, payment_id)
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 500)
    assert len(mails_with_subject(sink, RECEIPT)) == 1 and len(mails_with_subject(sink, REFUND_RECEIPT)) == 1
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


# -- refunds made in the provider's dashboard ------------------------------------------------------------

async def test_a_dashboard_refund_is_recorded_and_mailed_exactly_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs,
) -> None:
    payment_id, intent_id = await captured(client, auth, runtime, run_jobs)
    point_sandbox_at(sandbox, api_server, faults={"duplicate_rate": 1.0, "bad_signature_rate": 1.0, "seed": 2})
    async with httpx.AsyncClient(base_url=sandbox.base_url) as provider:
        response = await provider.post(f"/_sandbox/payments/intents/{intent_id}/dashboard_refund",
                                       json={"amount": 300})
        assert response.status_code == 200, response.text
        await deliver(sandbox, run_jobs)

        (event,) = sandbox.state.stripe_webhooks.events_of("charge.refunded")
        attempts = sandbox.state.stripe_webhooks.deliveries_of(event["id"])
        assert [(a.status_code, a.bad_signature) for a in attempts] == [(400, True), (200, False), (200, False)]
        (refund,) = await refunds_of(runtime.database, payment_id)
        assert (refund.amount, refund.status, refund.provider_refund_id) == (300, "succeeded", response.json()["id"])
        payment = await load_payment(runtime.database, payment_id)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 300)
        await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])

        rest = await provider.post(f"/_sandbox/payments/intents/{intent_id}/dashboard_refund")  # what is left
        assert rest.status_code == 200, rest.text
        await deliver(sandbox, run_jobs)

    assert sorted(r.amount for r in await refunds_of(runtime.database, payment_id)) == [300, AMOUNT - 300]
    assert (await load_payment(runtime.database, payment_id)).status == "refunded"
    assert len(mails_with_subject(sink, REFUND_RECEIPT)) == 2  # one per refund, though each event came twice
    assert sink.duplicates() == {}
    totals = await balances(runtime.database, payment_id)
    assert (totals["provider_balance"], totals["revenue"], totals["refunds"]) == (0, -AMOUNT, AMOUNT)
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


async def test_with_a_current_api_version_the_refund_events_record_dashboard_and_own_refunds_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs,
) -> None:
    """From API version 2022-11-15 `charge.refunded` no longer lists the refunds; from 2024-10-28
    `refund.created` names each one. Both arrive, each twice; every refund is recorded once."""
    payment_id, intent_id = await captured(client, auth, runtime, run_jobs)
    point_sandbox_at(sandbox, api_server, api_version="2024-10-28.acacia", faults={"duplicate_rate": 1.0})
    async with httpx.AsyncClient(base_url=sandbox.base_url) as provider:
        dashboard = await provider.post(f"/_sandbox/payments/intents/{intent_id}/dashboard_refund",
                                        json={"amount": 600})
        assert dashboard.status_code == 200, dashboard.text
    await deliver(sandbox, run_jobs)
    ours = await client.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 400},
                             headers={**auth, "Idempotency-Key": "refund-after-dashboard"})
    assert ours.status_code == 202, ours.text
    await run_jobs()  # the refund job makes it; its events follow
    await deliver(sandbox, run_jobs)

    sender = sandbox.state.stripe_webhooks
    assert [await outcome_of(runtime.database, e["id"]) for e in sender.events_of("charge.refunded")] == [
        "no_refund_list", "no_refund_list"]
    dashboard_event, own_event = sender.events_of("refund.created")
    assert await outcome_of(runtime.database, dashboard_event["id"]) == "applied"
    # ours: whichever of the refund job and its event came first settled it, the other found it known
    assert await outcome_of(runtime.database, own_event["id"]) in ("applied", "already_known")
    refunds = await refunds_of(runtime.database, payment_id)
    assert sorted((r.amount, r.provider_refund_id == dashboard.json()["id"]) for r in refunds) == [
        (400, False), (600, True)]
    payment = await load_payment(runtime.database, payment_id)
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 1000)
    assert len(mails_with_subject(sink, REFUND_RECEIPT)) == 2
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


async def test_a_dashboard_refund_still_pending_is_recorded_when_an_update_says_it_succeeded(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sink: SmtpSink, run_jobs: RunJobs,
) -> None:
    payment_id, intent_id = await captured(client, auth, runtime, run_jobs)
    refund = {"id": "re_dashboard_pending", "object": "refund", "amount": 250, "currency": "usd", "created": 1,
              "payment_intent": intent_id, "metadata": {}, "status": "pending"}
    created = stripe_event("refund.created", refund)
    updated = stripe_event("refund.updated", {**refund, "status": "succeeded"})
    for body in (created, updated):
        assert (await post_event(client, body)).status_code == 200
        await run_jobs()

    assert await outcome_of(runtime.database, json.loads(created)["id"]) == "already_known"  # nothing to record yet
    assert await outcome_of(runtime.database, json.loads(updated)["id"]) == "applied"
    (recorded,) = await refunds_of(runtime.database, payment_id)
    assert (recorded.amount, recorded.status, recorded.provider_refund_id) == (250, "succeeded", "re_dashboard_pending")
    assert len(mails_with_subject(sink, REFUND_RECEIPT)) == 1
    await assert_ledger_ok(runtime.database)


@pytest.mark.parametrize("change", [{"amount": AMOUNT + 1}, {"currency": "eur"}])
async def test_a_refund_beyond_the_capture_or_in_another_currency_is_stored_as_inconsistent(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, run_jobs: RunJobs, change: dict[str, Any],
) -> None:
    """Found by the newcomer check: such an event was stored as `already_known`, hiding it from operators."""
    payment_id, intent_id = await captured(client, auth, runtime, run_jobs)
    refund = {"id": "re_too_much", "object": "refund", "amount": 250, "currency": "usd", "created": 1,
              "payment_intent": intent_id, "metadata": {}, "status": "succeeded", **change}
    body = stripe_event("refund.created", refund)
    assert (await post_event(client, body)).status_code == 200
    await run_jobs()

    assert await outcome_of(runtime.database, json.loads(body)["id"]) == "refund_inconsistent"
    assert await refunds_of(runtime.database, payment_id) == []
    await assert_ledger_ok(runtime.database)


async def test_a_refund_made_through_seawall_is_not_recorded_twice_by_its_event(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, sink: SmtpSink,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs,
) -> None:
    payment_id, _intent = await captured(client, auth, runtime, run_jobs)
    point_sandbox_at(sandbox, api_server, hold=True)
    response = await client.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 700},
                                 headers={**auth, "Idempotency-Key": "refund-once"})
    assert response.status_code == 202, response.text
    await run_jobs()  # the refund job settles it
    sandbox.state.stripe_webhooks.release()
    await deliver(sandbox, run_jobs)  # then its charge.refunded arrives

    (event,) = sandbox.state.stripe_webhooks.events_of("charge.refunded")
    assert await outcome_of(runtime.database, event["id"]) == "already_known"
    assert [r.amount for r in await refunds_of(runtime.database, payment_id)] == [700]
    assert len(mails_with_subject(sink, REFUND_RECEIPT)) == 1
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


# -- disputes --------------------------------------------------------------------------------------------

async def test_a_dispute_flags_the_payment_and_books_the_withdrawn_funds_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
    api_server: EmbeddedHttpServer, run_jobs: RunJobs,
) -> None:
    payment_id, intent_id = await captured(client, auth, runtime, run_jobs)
    assert (await client.get(f"/v1/payments/{payment_id}", headers=auth)).json()["dispute_status"] is None
    point_sandbox_at(sandbox, api_server)
    async with httpx.AsyncClient(base_url=sandbox.base_url) as provider:
        opened = await provider.post(f"/_sandbox/payments/intents/{intent_id}/dispute", json={"fee": 1500})
        assert opened.status_code == 200, opened.text
    await deliver(sandbox, run_jobs)

    payment = await load_payment(runtime.database, payment_id)
    assert (payment.dispute_id, payment.dispute_status, payment.status) == (
        opened.json()["id"], "needs_response", "succeeded")
    assert (await client.get(f"/v1/payments/{payment_id}", headers=auth)).json()["dispute_status"] == "needs_response"
    expected = {"provider_balance": AMOUNT - AMOUNT - 1500, "revenue": -AMOUNT, "disputes": AMOUNT,
                "provider_fees": 1500}
    assert await balances(runtime.database, payment_id) == expected

    (event,) = sandbox.state.stripe_webhooks.events_of("charge.dispute.created")
    again = await post_event(client, json.dumps(event).encode())  # a redelivery under the same event id
    assert again.json()["duplicate"] is True
    other_id = {**event, "id": "evt_same_dispute_new_id"}  # the same dispute under another event id
    assert (await post_event(client, json.dumps(other_id).encode())).status_code == 200
    await run_jobs()
    assert await outcome_of(runtime.database, "evt_same_dispute_new_id") == "already_known"
    assert await balances(runtime.database, payment_id) == expected
    await assert_ledger_ok(runtime.database)
