"""The core use case (DESIGN §2), end to end: a paid sign-up is accepted at once (202) with the user
`pending_payment` and its charge queued; the worker charges the plan once at the provider and the
user becomes `active`. A declined card leaves the user `payment_failed`, and paying again with another
card activates them, with one intent per payment at the provider."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest

from seawall.accounts import service as accounts_service
from seawall.accounts.errors import PlanPaymentNotDueError
from seawall.payments import service as payments_service
from seawall.payments.plans import PLANS
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    assert_error,
    bearer,
    new_email,
    new_key,
    token_for,
)
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    payments_worker,
    running,
    wait_for_payments,
)


async def paid_sign_up(client: httpx.AsyncClient, email: str, **fields: Any) -> httpx.Response:
    return await client.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD, **fields},
                             headers={"Idempotency-Key": new_key()})


async def me(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_charges(runtime: Runtime, payment_ids: list[str]) -> None:
    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, payment_ids, worker_task=worker_task)


async def test_a_paid_sign_up_is_accepted_pending_and_activated_once_charged(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer,
) -> None:
    email = new_email("pro")
    response = await paid_sign_up(client, email, plan="pro", payment_method="pm_card_visa")

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["user"]["status"], body["user"]["plan"]) == ("pending_payment", "pro")
    payment = body["payment"]
    assert (payment["status"], payment["amount"], payment["currency"]) == ("pending", PLANS["pro"].amount, "usd")
    token = await token_for(client, email)
    assert (await me(client, token))["status"] == "pending_payment"

    await run_charges(runtime, [payment["id"]])

    assert (await me(client, token))["status"] == "active"
    [intent] = sandbox.state.intents_for(payment["id"])
    assert (intent.status, intent.amount) == ("succeeded", PLANS["pro"].amount)
    shown = await client.get(f"/v1/payments/{payment['id']}", headers=bearer(token))
    assert shown.json()["status"] == "succeeded"
    await assert_agrees_with_provider(runtime.database, sandbox, [payment["id"]])


async def test_a_declined_sign_up_can_pay_again_with_another_card(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer,
) -> None:
    email = new_email("declined")
    response = await paid_sign_up(client, email, plan="starter", payment_method="pm_card_chargeDeclined")
    assert response.status_code == 202, response.text
    declined_id = response.json()["payment"]["id"]
    token = await token_for(client, email)

    await run_charges(runtime, [declined_id])

    assert (await me(client, token))["status"] == "payment_failed"
    shown = (await client.get(f"/v1/payments/{declined_id}", headers=bearer(token))).json()
    assert (shown["status"], shown["failure_code"]) == ("failed", "generic_decline")

    key = new_key()
    retry = await client.post("/v1/me/plan-payments", json={"payment_method": "pm_card_visa"},
                              headers={**bearer(token), "Idempotency-Key": key})
    assert retry.status_code == 202, retry.text
    paid_id = retry.json()["id"]
    assert paid_id != declined_id and retry.json()["amount"] == PLANS["starter"].amount
    assert (await me(client, token))["status"] == "pending_payment"
    replay = await client.post("/v1/me/plan-payments", json={"payment_method": "pm_card_visa"},
                               headers={**bearer(token), "Idempotency-Key": key})
    assert (replay.status_code, replay.json()["id"]) == (202, paid_id)

    await run_charges(runtime, [paid_id])

    assert (await me(client, token))["status"] == "active"
    await assert_agrees_with_provider(runtime.database, sandbox, [declined_id, paid_id])
    assert [i.status for i in sandbox.state.intents_for(declined_id)] == ["requires_payment_method"]
    assert [i.status for i in sandbox.state.intents_for(paid_id)] == ["succeeded"]
    # nothing left to pay for
    again = await client.post("/v1/me/plan-payments", json={"payment_method": "pm_card_visa"},
                              headers={**bearer(token), "Idempotency-Key": new_key()})
    assert_error(again, 422, "plan_payment_not_due")


async def test_paying_for_a_plan_again_needs_a_session_and_a_key(client: httpx.AsyncClient, token: str) -> None:
    body = {"payment_method": "pm_card_visa"}
    assert_error(await client.post("/v1/me/plan-payments", json=body, headers={"Idempotency-Key": new_key()}), 401)
    assert_error(await client.post("/v1/me/plan-payments", json=body, headers=bearer(token)), 400)


async def test_sign_up_plan_errors(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    assert_error(await paid_sign_up(client, new_email(), plan="platinum", payment_method="pm_card_visa"),
                 400, "unknown_plan")
    assert_error(await paid_sign_up(client, new_email(), plan="pro"), 422, "validation_error")
    assert_error(await paid_sign_up(client, new_email(), payment_method="pm_card_visa"), 422, "validation_error")
    assert_error(await paid_sign_up(client, new_email(), plan="pro", payment_method="visa"), 422, "validation_error")
    assert sandbox.state.payments.intents == {}


async def test_concurrent_plan_payment_retries_create_one_payment(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer,
) -> None:
    """Four retries at once, each with its own Idempotency-Key: the account's row lock lets one
    through (202) and the others find the plan payment no longer due (422), so the user is never
    charged twice for one plan."""
    email = new_email("racing-retries")
    response = await paid_sign_up(client, email, plan="starter", payment_method="pm_card_chargeDeclined")
    declined_id = response.json()["payment"]["id"]
    token = await token_for(client, email)
    await run_charges(runtime, [declined_id])
    assert (await me(client, token))["status"] == "payment_failed"

    answers = await asyncio.gather(*(
        client.post("/v1/me/plan-payments", json={"payment_method": "pm_card_visa"},
                    headers={**bearer(token), "Idempotency-Key": new_key()})
        for _ in range(4)))

    assert sorted(answer.status_code for answer in answers) == [202, 422, 422, 422]
    for refused in (answer for answer in answers if answer.status_code == 422):
        assert_error(refused, 422, "plan_payment_not_due")
    listed = (await client.get("/v1/payments", headers=bearer(token))).json()
    assert len(listed["data"]) == 2  # the declined sign-up charge and one retry


async def test_two_retries_racing_past_the_status_check_create_one_payment(
    client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race made certain: each retry waits (up to 1 s) at the payment's creation for the other to
    get there too. Without the row lock both pass the status check and two payments are created; with
    it the second waits for the first to commit and is refused."""
    email = new_email("forced-race")
    response = await paid_sign_up(client, email, plan="starter", payment_method="pm_card_chargeDeclined")
    declined_id = response.json()["payment"]["id"]
    await run_charges(runtime, [declined_id])
    user_id = response.json()["user"]["id"]

    both_here = asyncio.Barrier(2)
    create_payment = payments_service.create_payment

    async def create_when_both_are_here(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_here.wait(), timeout=1.0)
        return await create_payment(*args, **kwargs)

    monkeypatch.setattr(payments_service, "create_payment", create_when_both_are_here)

    async def retry() -> str:
        try:
            async with runtime.database.transaction() as session:
                payment = await accounts_service.retry_plan_payment(
                    session, clock=runtime.clock, user_id=user_id, payment_method="pm_card_visa")
            return payment.id
        except PlanPaymentNotDueError:
            return "refused"

    outcomes = await asyncio.gather(retry(), retry())

    assert sorted(outcome == "refused" for outcome in outcomes) == [False, True]
