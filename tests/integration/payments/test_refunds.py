"""Refunds never exceed what was captured, even when many are requested at once (promise 2 for
refunds), at the provider as well as here; a partial then a full refund moves the payment to
`partially_refunded` then `refunded`; a refund whose outcome was unknown is never failed on a later
refusal; the ledger balances after every step."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import assert_error, bearer, new_key
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    assert_ledger_ok,
    load_payment,
    new_user,
    payments_worker,
    post_payment,
    refunds_of,
    running,
    wait_for_payments,
    wait_for_refunds,
)
from tests.support.server import ServerFactory

AMOUNT = 1000


async def captured_payment(client: httpx.AsyncClient, auth: Mapping[str, str], runtime: Runtime) -> str:
    payment_id = str((await post_payment(client, auth, amount=AMOUNT))["id"])
    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, [payment_id], "succeeded", worker_task=worker_task)
    return payment_id


async def request_refund(client: httpx.AsyncClient, auth: Mapping[str, str], payment_id: str,
                         amount: int | None) -> httpx.Response:
    body: dict[str, Any] = {} if amount is None else {"amount": amount}
    return await client.post(f"/v1/payments/{payment_id}/refunds", json=body,
                             headers={**auth, "Idempotency-Key": new_key()})


async def run_refunds(runtime: Runtime, payment_id: str, status: str) -> None:
    """Run the refund jobs until every refund of the payment is settled; then it must be `status`."""
    async with running(payments_worker(runtime)) as worker_task:
        refunds = await wait_for_refunds(runtime.database, payment_id, worker_task=worker_task)
    assert {refund.status for refund in refunds} == {"succeeded"}, refunds
    assert (await load_payment(runtime.database, payment_id)).status == status


def refunded_at_provider(sandbox: SandboxServer, intent_id: str | None) -> int:
    assert intent_id is not None
    return sandbox.state.payments.refunded_amount(intent_id)


async def test_concurrent_refunds_never_exceed_the_captured_amount(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_id = await captured_payment(client, auth, runtime)

    responses = await asyncio.gather(*(request_refund(client, auth, payment_id, 300) for _ in range(8)))

    accepted = [r for r in responses if r.status_code == 202]
    assert len(accepted) == 3  # 3 × 300 fit in 1000; a fourth would not
    for refused in (r for r in responses if r.status_code != 202):
        assert_error(refused, 422, "refund_not_allowed")
    await run_refunds(runtime, payment_id, "partially_refunded")
    payment = await load_payment(runtime.database, payment_id)
    assert payment.amount_refunded == 900
    assert refunded_at_provider(sandbox, payment.provider_intent_id) == 900
    assert len(sandbox.state.payments.refunds_for(payment.provider_intent_id or "")) == 3
    await assert_ledger_ok(runtime.database)
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


async def test_a_partial_then_a_full_refund_moves_the_payment_through_its_states(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_id = await captured_payment(client, auth, runtime)
    await assert_ledger_ok(runtime.database)

    partial = await request_refund(client, auth, payment_id, 300)
    assert partial.status_code == 202, partial.text
    assert (partial.json()["amount"], partial.json()["status"]) == (300, "pending")
    await run_refunds(runtime, payment_id, "partially_refunded")
    await assert_ledger_ok(runtime.database)

    rest = await request_refund(client, auth, payment_id, None)  # no amount: what is left
    assert rest.status_code == 202, rest.text
    assert rest.json()["amount"] == 700
    await run_refunds(runtime, payment_id, "refunded")
    await assert_ledger_ok(runtime.database)

    payment = await load_payment(runtime.database, payment_id)
    assert payment.amount_refunded == AMOUNT
    assert refunded_at_provider(sandbox, payment.provider_intent_id) == AMOUNT
    assert_error(await request_refund(client, auth, payment_id, 1), 422, "refund_not_allowed")
    shown = await client.get(f"/v1/payments/{payment_id}", headers=auth)
    assert (shown.json()["status"], shown.json()["amount_refunded"]) == ("refunded", AMOUNT)


async def test_refunds_of_a_payment_that_is_not_captured_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
) -> None:
    pending = (await post_payment(client, auth))["id"]
    assert_error(await request_refund(client, auth, pending, None), 422, "refund_not_allowed")
    declined = (await post_payment(client, auth, payment_method="pm_card_chargeDeclined"))["id"]
    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, [pending, declined], worker_task=worker_task)
    assert_error(await request_refund(client, auth, declined, None), 422, "refund_not_allowed")
    other = bearer(await new_user(client))
    assert_error(await request_refund(client, other, pending, None), 404)
    await assert_ledger_ok(runtime.database)


async def test_refunds_from_threads_against_two_api_processes_never_exceed_the_captured_amount(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
    servers: ServerFactory,
) -> None:
    """The same race across processes: the lock is the database's, not an in-process one."""
    payment_id = await captured_payment(client, auth, runtime)
    apis = [servers.start("api", wait_ready=False) for _ in range(2)]
    for api in apis:
        await asyncio.to_thread(servers.wait_ready, api)
    start = threading.Barrier(10)

    def refund_once(index: int) -> int:
        with httpx.Client(base_url=apis[index % 2].base_url, timeout=30.0) as http:
            start.wait(timeout=10)
            response = http.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 250},
                                 headers={**auth, "Idempotency-Key": new_key()})
        assert response.status_code in (202, 422), response.text
        return response.status_code

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=10) as pool:  # one thread each: they meet at the barrier
        codes = await asyncio.gather(*(loop.run_in_executor(pool, refund_once, i) for i in range(10)))

    assert sorted(codes).count(202) == 4  # 4 × 250 = 1000: everything, and not a cent more
    await run_refunds(runtime, payment_id, "refunded")
    payment = await load_payment(runtime.database, payment_id)
    assert refunded_at_provider(sandbox, payment.provider_intent_id) == AMOUNT
    await assert_ledger_ok(runtime.database)


async def test_a_refused_retry_after_a_lost_refund_response_never_fails_a_refund_the_provider_made(
    client: httpx.AsyncClient, auth: dict[str, str], make_runtime: Callable[..., Runtime],
) -> None:
    """The refund's first response is lost (the provider did refund); the retry is refused (401, a
    badly rotated key). The refund must stay pending — failing it would free its amount to be refunded
    again and leave our books short of the provider's — and settle once a retry gets through."""
    good_key, bad_key = "sk_test_good_0123456789", "sk_test_rotated_badly_0123"
    async with SandboxServer(api_keys=[good_key]) as provider:
        good = make_runtime(stripe_api_base=provider.base_url, stripe_api_key=SecretStr(good_key))
        rotated = make_runtime(stripe_api_base=provider.base_url, stripe_api_key=SecretStr(bad_key))
        payment_id = (await post_payment(client, auth, amount=AMOUNT))["id"]
        await payments_worker(good).run_until_idle()
        assert (await load_payment(good.database, payment_id)).status == "succeeded"
        assert (await request_refund(client, auth, payment_id, 400)).status_code == 202
        provider.set_faults(lost_response_rate=1.0, methods=["POST"])
        clock = FakeClock(datetime.now(UTC))  # moved by hand: each run below is one attempt
        await payments_worker(good, clock=clock, rng=random.Random(3)).run_until_idle()
        intent_id = (await load_payment(good.database, payment_id)).provider_intent_id
        assert refunded_at_provider(provider, intent_id) == 400
        provider.set_faults()

        clock.advance(60)
        await payments_worker(rotated, clock=clock, rng=random.Random(3)).run_until_idle()

        [refund] = await refunds_of(good.database, payment_id)
        assert refund.status == "pending", (refund.status, refund.failure_message)
        clock.advance(60)  # the key is fixed
        await payments_worker(good, clock=clock, rng=random.Random(3)).run_until_idle()
        [refund] = await refunds_of(good.database, payment_id)
        assert refund.status == "succeeded"
        await assert_agrees_with_provider(good.database, provider, [payment_id])
        assert len(provider.state.payments.refunds_for(intent_id or "")) == 1
