"""What the payments tests send, run and check: payments over HTTP, workers on the payments queue,
and the one invariant every scenario ends with — our records agree with the provider's.

Waiting is always polling with a generous deadline (see `tests/integration/jobs/harness.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select

from seawall.db import Database
from seawall.jobs import Job
from seawall.jobs import repository as jobs_repository
from seawall.jobs.worker import Worker
from seawall.payments import repository
from seawall.payments.ledger import check_ledger
from seawall.payments.models import LedgerEntry, Payment, Refund
from seawall.payments.service import CHARGE_JOB
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import new_email, new_key, sign_up, token_for
from tests.integration.jobs.harness import DEADLINE_SECONDS, outcomes, wait_until

TERMINAL = ("succeeded", "failed")
CAPTURED = ("succeeded", "partially_refunded", "refunded")
SETTLED = ("failed", *CAPTURED)
PAYMENT_DEADLINE_SECONDS = 60.0


# -- the API -------------------------------------------------------------------------------------

async def new_user(client: httpx.AsyncClient) -> str:
    """Sign up (free, so active at once) and log in; the bearer token."""
    email = new_email("payer")
    response = await sign_up(client, email)
    assert response.status_code == 201, response.text
    return await token_for(client, email)


async def post_payment(client: httpx.AsyncClient, auth: Mapping[str, str], *, amount: int = 2000,
                       currency: str = "usd", payment_method: str = "pm_card_visa",
                       key: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/v1/payments", json={"amount": amount, "currency": currency, "payment_method": payment_method},
        headers={**auth, "Idempotency-Key": key or new_key()})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "pending"
    return body


async def post_payments(client: httpx.AsyncClient, auth: Mapping[str, str], methods: Iterable[str],
                        *, amount: int = 2000) -> list[str]:
    return [(await post_payment(client, auth, amount=amount, payment_method=method))["id"] for method in methods]


# -- workers -------------------------------------------------------------------------------------

def payments_worker(runtime: Runtime, *, concurrency: int | None = None, **options: Any) -> Worker:
    """A worker on the payments queue only, with `runtime`'s payment routes."""
    return Worker(database=runtime.database, settings=runtime.settings, runtime=runtime, queues=["payments"],
                  concurrency=concurrency, **options)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """`worker.run()` (the production loop) in the background; stopped and drained on exit."""
    task = asyncio.create_task(worker.run(), name="payments-test-worker")
    try:
        yield task
    finally:
        worker.stop()
        await task


# -- our records ---------------------------------------------------------------------------------

async def load_payment(database: Database, payment_id: str) -> Payment:
    async with database.transaction() as session:
        payment = await repository.get_payment(session, payment_id)
    assert payment is not None, payment_id
    return payment


async def load_payments(database: Database, payment_ids: Iterable[str]) -> list[Payment]:
    return [await load_payment(database, payment_id) for payment_id in payment_ids]


async def charge_job(database: Database, payment_id: str) -> Job:
    async with database.transaction() as session:
        job = await jobs_repository.find_by_dedup_key(session, f"{CHARGE_JOB}:{payment_id}")
    assert job is not None, f"no charge job for {payment_id}"
    return job


async def charge_outcomes(database: Database, payment_id: str) -> list[str]:
    return await outcomes(database, (await charge_job(database, payment_id)).id)


async def wait_for_payments(database: Database, payment_ids: Iterable[str], *statuses: str,
                            worker_task: asyncio.Task[None] | None = None,
                            timeout: float = PAYMENT_DEADLINE_SECONDS) -> list[Payment]:
    """Poll until every payment is in one of `statuses` (default: succeeded or failed)."""
    wanted = statuses or TERMINAL
    ids = list(payment_ids)

    async def check() -> list[Payment] | None:
        if worker_task is not None and worker_task.done():
            worker_task.result()
            raise AssertionError("the worker stopped on its own")
        payments = await load_payments(database, ids)
        return payments if all(p.status in wanted for p in payments) else None

    return await wait_until(check, timeout=timeout, what=f"{len(ids)} payments to be {'/'.join(wanted)}")


async def wait_for_failed_attempts(database: Database, payment_ids: Iterable[str],
                                   *, timeout: float = DEADLINE_SECONDS) -> None:
    """Until every payment's charge job has had at least one attempt fail and be retried."""
    ids = list(payment_ids)

    async def check() -> bool:
        for payment_id in ids:
            if "retry" not in await charge_outcomes(database, payment_id):
                return False
        return True

    await wait_until(check, timeout=timeout, what="every charge to have failed at least once")


async def refunds_of(database: Database, payment_id: str) -> list[Refund]:
    async with database.transaction() as session:
        query = select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.created_at)
        return list((await session.execute(query)).scalars().all())


async def wait_for_refunds(database: Database, payment_id: str, *,
                           worker_task: asyncio.Task[None] | None = None) -> list[Refund]:
    """Until no refund of the payment is pending any more."""

    async def check() -> list[Refund] | None:
        if worker_task is not None and worker_task.done():
            worker_task.result()
            raise AssertionError("the worker stopped on its own")
        refunds = await refunds_of(database, payment_id)
        return refunds if refunds and all(r.status != "pending" for r in refunds) else None

    return await wait_until(check, timeout=PAYMENT_DEADLINE_SECONDS, what=f"the refunds of {payment_id} to settle")


async def ledger_entries(database: Database, payment_id: str) -> list[LedgerEntry]:
    async with database.transaction() as session:
        query = select(LedgerEntry).where(LedgerEntry.payment_id == payment_id).order_by(LedgerEntry.id)
        return list((await session.execute(query)).scalars().all())


async def assert_ledger_ok(database: Database) -> None:
    async with database.transaction() as session:
        report = await check_ledger(session)
    assert report.ok, report.problems


# -- the invariant -------------------------------------------------------------------------------

async def assert_agrees_with_provider(database: Database, sandbox: SandboxServer, payment_ids: Iterable[str],
                                      *, others: Iterable[SandboxServer] = ()) -> dict[str, str]:
    """Promise 2, checked at the provider: every payment is settled; captured here (succeeded or
    refunded) ⇔ one succeeded intent there (the one we recorded, for the full amount, refunded as much
    as we say); failed here ⇔ no succeeded intent there;
    never two intents for one payment, and none at all at the `others`. The charge job finished
    (never dead), and the ledger balances and agrees. Returns payment id → status."""
    statuses: dict[str, str] = {}
    for payment in await load_payments(database, payment_ids):
        intents = sandbox.state.intents_for(payment.id)
        succeeded = [intent for intent in intents if intent.status == "succeeded"]
        assert payment.status in SETTLED, (payment.id, payment.status)
        assert len(intents) <= 1, f"{payment.id} has {len(intents)} intents at the provider: {intents}"
        if payment.status in CAPTURED:
            assert len(succeeded) == 1, (payment.id, intents)
            assert payment.provider_intent_id == succeeded[0].id
            assert succeeded[0].amount_received == payment.amount
            assert sandbox.state.payments.refunded_amount(succeeded[0].id) == payment.amount_refunded
        else:
            assert succeeded == [], (payment.id, intents)
        for other in others:
            assert other.state.intents_for(payment.id) == [], f"{payment.id} also reached {other.base_url}"
        job = await charge_job(database, payment.id)
        assert job.status == "succeeded", (payment.id, job.status, job.last_error)
        statuses[payment.id] = payment.status
    await assert_ledger_ok(database)
    return statuses


def sandbox_requests(sandbox: SandboxServer) -> int:
    """Every provider request the sandbox has received so far (finished or still in flight)."""
    stats = sandbox.state.requests
    return sum(stats.outcomes.values()) + stats.in_flight

