"""Promise 2 for refunds: a refund is made at most once at the provider, even when an attempt's
outcome is unknown and the provider has since forgotten its idempotency key (Stripe prunes keys
once they are 24 hours old; a job replayed from the dead-letter queue may come days later).

Every test counts effects at the sandbox — how many refunds it holds for the intent and how much
was refunded — and the requests it answered from its idempotency store (`replayed`): after an
unknown outcome the job looks its refund up (`GET /v1/refunds?payment_intent=`) and adopts it,
so nothing is sent again, and the sandbox never replays.

Attempts are run one by one on a clock moved by hand (`FakeClock`), except the crash test, whose
worker is a real `seawall worker` process killed with SIGKILL between send and record.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from seawall.db import Database
from seawall.jobs import Job
from seawall.jobs import repository as jobs_repository
from seawall.kit.clock import FakeClock
from seawall.payments.models import Refund
from seawall.payments.reconcile import reconcile
from seawall.payments.service import REFUND_JOB
from seawall.runtime import Runtime
from seawall.sandbox import RefundRecord, SandboxServer
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import new_key
from tests.integration.jobs.harness import outcomes, wait_until
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    load_payment,
    payments_worker,
    post_payment,
    refunds_of,
    running,
    wait_for_payments,
    wait_for_refunds,
)
from tests.support.server import ServerFactory

GOOD_KEY, BAD_KEY = "sk_test_refunds_good_0123456789", "sk_test_refunds_rotated_badly_01"
CAPTURED, REFUNDED = 1000, 400  # a second refund of 400 would fit: only the job's rules prevent it
MOVE_ON = 400.0  # seconds: more than the refund job's backoff cap (300 s), so the next attempt is due
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
UNKNOWN_OUTCOMES: dict[str, dict[str, Any]] = {  # processed by the provider; the answer never arrives
    "lost_response": {"lost_response_rate": 1.0, "methods": ["POST"]},
    "timeout_after_processing": {"timeout_after_processing_rate": 1.0, "methods": ["POST"]},
}


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"api_keys": [GOOD_KEY]}  # so that a worker with a badly rotated key is refused (401)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """Lookups must get their answers on a loaded CI machine: timeouts of seconds, not the payments
    suite's 0.5 s."""
    return settings_overrides | {"stripe_api_key": SecretStr(GOOD_KEY), "provider_connect_timeout_seconds": 2.0,
                                 "provider_read_timeout_seconds": 2.0, "provider_total_timeout_seconds": 4.0}


# -- steps -------------------------------------------------------------------------------------------

async def captured_payment(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime) -> tuple[str, str]:
    """A payment of `CAPTURED` charged at the sandbox: (payment id, intent id)."""
    payment_id = str((await post_payment(client, auth, amount=CAPTURED))["id"])
    async with running(payments_worker(runtime)) as worker_task:
        [payment] = await wait_for_payments(runtime.database, [payment_id], "succeeded", worker_task=worker_task)
    assert payment.provider_intent_id is not None
    return payment_id, payment.provider_intent_id


async def requested_refund(client: httpx.AsyncClient, auth: dict[str, str], payment_id: str) -> str:
    response = await client.post(f"/v1/payments/{payment_id}/refunds", json={"amount": REFUNDED},
                                 headers={**auth, "Idempotency-Key": new_key()})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def refund_job(database: Database, refund_id: str) -> Job:
    async with database.transaction() as session:
        job = await jobs_repository.find_by_dedup_key(session, f"{REFUND_JOB}:{refund_id}")
    assert job is not None, f"no refund job for {refund_id}"
    return job


async def load_refund(database: Database, payment_id: str) -> Refund:
    [refund] = await refunds_of(database, payment_id)
    return refund


async def attempt(runtime: Runtime, clock: FakeClock) -> None:
    """One more attempt of every due job on the payments queue, on `clock`."""
    await payments_worker(runtime, clock=clock, rng=random.Random(5)).run_until_idle()


def refunds_at(sandbox: SandboxServer, intent_id: str) -> list[RefundRecord]:
    return sandbox.state.payments.refunds_for(intent_id)


async def lose_the_first_answer(runtime: Runtime, sandbox: SandboxServer, clock: FakeClock, *, refund_id: str,
                                intent_id: str, payment_id: str, fault: str = "lost_response") -> None:
    """Attempt 1 reaches the provider, which refunds; its answer is lost. The refund stays pending,
    marked as maybe sent."""
    sandbox.state.requests.reset()
    sandbox.set_faults(**UNKNOWN_OUTCOMES[fault])
    await attempt(runtime, clock)
    sandbox.set_faults()
    assert [r.amount for r in refunds_at(sandbox, intent_id)] == [REFUNDED]  # the provider did act
    assert sandbox.state.requests.outcomes[fault] == 1
    refund = await load_refund(runtime.database, payment_id)
    assert (refund.status, refund.provider_outcome_unknown) == ("pending", True)
    assert await outcomes(runtime.database, (await refund_job(runtime.database, refund_id)).id) == ["retry"]


async def assert_refunded_exactly_once(runtime: Runtime, sandbox: SandboxServer, *, payment_id: str,
                                       intent_id: str) -> None:
    """One refund of `REFUNDED` at the provider, adopted by ours; nothing re-sent; books agree."""
    [made] = refunds_at(sandbox, intent_id)
    assert (made.amount, sandbox.state.payments.refunded_amount(intent_id)) == (REFUNDED, REFUNDED)
    assert sandbox.state.requests.outcomes["replayed"] == 0  # the job looked, it never sent again
    refund = await load_refund(runtime.database, payment_id)
    assert (refund.status, refund.provider_refund_id) == ("succeeded", made.id)
    payment = await load_payment(runtime.database, payment_id)
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", REFUNDED)
    await assert_agrees_with_provider(runtime.database, sandbox, [payment_id])


# -- the promises ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", sorted(UNKNOWN_OUTCOMES))
async def test_a_retry_after_the_provider_refunded_but_the_answer_was_lost_adopts_that_refund(
    fault: str, client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_id, intent_id = await captured_payment(client, auth, runtime)
    refund_id = await requested_refund(client, auth, payment_id)
    clock = FakeClock(datetime.now(UTC))
    await lose_the_first_answer(runtime, sandbox, clock, refund_id=refund_id, intent_id=intent_id,
                                payment_id=payment_id, fault=fault)

    clock.advance(MOVE_ON)
    await attempt(runtime, clock)

    await assert_refunded_exactly_once(runtime, sandbox, payment_id=payment_id, intent_id=intent_id)
    assert await outcomes(runtime.database, (await refund_job(runtime.database, refund_id)).id) == [
        "retry", "succeeded"]


async def test_a_refund_replayed_from_the_dead_letter_queue_after_the_keys_were_pruned_refunds_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
    make_runtime: Callable[..., Runtime],
) -> None:
    """The answer is lost; every later attempt is refused (a badly rotated key) until the job is
    dead; days later the provider has pruned its idempotency keys, and an operator replays the job.
    The replay starts again at attempt 1, but the refund row still says "maybe sent": it looks first."""
    payment_id, intent_id = await captured_payment(client, auth, runtime)
    refund_id = await requested_refund(client, auth, payment_id)
    clock = FakeClock(datetime.now(UTC))
    await lose_the_first_answer(runtime, sandbox, clock, refund_id=refund_id, intent_id=intent_id,
                                payment_id=payment_id)
    rotated = make_runtime(stripe_api_key=SecretStr(BAD_KEY))
    job = await refund_job(runtime.database, refund_id)
    for _ in range(job.max_attempts):
        clock.advance(MOVE_ON)
        await attempt(rotated, clock)
        job = await refund_job(runtime.database, refund_id)
        if job.status == "dead":
            break
    assert (job.status, job.attempts) == ("dead", job.max_attempts)
    assert (await load_refund(runtime.database, payment_id)).status == "pending"  # never failed on a refusal

    async with httpx.AsyncClient(base_url=sandbox.base_url) as sandbox_http:
        forgotten = (await sandbox_http.post("/_sandbox/payments/idempotency/forget")).json()
    assert forgotten["forgotten"] >= 2  # the charge's key and the refund's: a re-send would refund again
    replayed = await client.post(f"/admin/jobs/{job.id}/replay", headers=ADMIN)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("queued", 0)
    clock.advance(MOVE_ON)
    await attempt(runtime, clock)

    await assert_refunded_exactly_once(runtime, sandbox, payment_id=payment_id, intent_id=intent_id)
    assert (await refund_job(runtime.database, refund_id)).status == "succeeded"


LOOKUP_FAILURES: dict[str, dict[str, Any]] = {  # the provider is down for lookups; a send would go through
    "error_503": {"error_503_rate": 1.0, "methods": ["GET"]},
    "hang": {"hang_rate": 1.0, "methods": ["GET"]},  # the client's read timeout: outcome unknown
}


@pytest.mark.parametrize("failure", sorted(LOOKUP_FAILURES))
async def test_a_failed_lookup_is_retried_later_and_never_sends_the_refund_blind(
    failure: str, client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_id, intent_id = await captured_payment(client, auth, runtime)
    refund_id = await requested_refund(client, auth, payment_id)
    clock = FakeClock(datetime.now(UTC))
    await lose_the_first_answer(runtime, sandbox, clock, refund_id=refund_id, intent_id=intent_id,
                                payment_id=payment_id)
    sandbox.state.payments.forget_idempotency_keys()  # a blind re-send would now refund a second time
    sandbox.set_faults(**LOOKUP_FAILURES[failure])

    clock.advance(MOVE_ON)
    await attempt(runtime, clock)

    assert sandbox.state.requests.outcomes[failure] >= 1
    assert len(refunds_at(sandbox, intent_id)) == 1
    refund = await load_refund(runtime.database, payment_id)
    assert (refund.status, refund.provider_outcome_unknown) == ("pending", True)
    job_id = (await refund_job(runtime.database, refund_id)).id
    assert await outcomes(runtime.database, job_id) == ["retry", "retry"]

    sandbox.set_faults()  # the provider is back
    clock.advance(MOVE_ON)
    await attempt(runtime, clock)

    await assert_refunded_exactly_once(runtime, sandbox, payment_id=payment_id, intent_id=intent_id)
    assert await outcomes(runtime.database, job_id) == ["retry", "retry", "succeeded"]


async def test_a_worker_killed_between_sending_a_refund_and_recording_it_refunds_once_after_recovery(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
    servers: ServerFactory,
) -> None:
    """A real worker sends the refund; the provider makes it and holds the answer back; the worker is
    SIGKILLed while it waits. After its lease expires another worker runs the job: it finds the row
    marked, looks the refund up and adopts it (here with the keys pruned too, so a re-send would
    refund again)."""
    payment_id, intent_id = await captured_payment(client, auth, runtime)
    refund_id = await requested_refund(client, auth, payment_id)
    sandbox.state.requests.reset()
    sandbox.set_faults(timeout_after_processing_rate=1.0, methods=["POST"], hang_seconds=120)
    doomed = servers.start("worker", args=["--queues", "payments", "--concurrency", "1"], env={
        "SEAWALL_STRIPE_API_BASE": sandbox.base_url, "SEAWALL_STRIPE_API_KEY": GOOD_KEY,
        "SEAWALL_JOB_LEASE_SECONDS": "2", "SEAWALL_PROVIDER_READ_TIMEOUT_SECONDS": "100",
        "SEAWALL_PROVIDER_TOTAL_TIMEOUT_SECONDS": "110"})

    async def sent_and_waiting() -> bool:
        if doomed.process.poll() is not None:
            raise AssertionError(f"the worker exited early:\n{doomed.log()}")
        return len(refunds_at(sandbox, intent_id)) == 1 and sandbox.state.requests.in_flight == 1

    await wait_until(sent_and_waiting, timeout=60.0, what="the worker's refund to be made and its answer held")
    doomed.kill()  # SIGKILL between send and record

    refund = await load_refund(runtime.database, payment_id)
    assert (refund.status, refund.provider_outcome_unknown) == ("pending", True)
    assert (await refund_job(runtime.database, refund_id)).status == "running"
    sandbox.set_faults()
    sandbox.state.payments.forget_idempotency_keys()
    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_refunds(runtime.database, payment_id, worker_task=worker_task)

    await assert_refunded_exactly_once(runtime, sandbox, payment_id=payment_id, intent_id=intent_id)
    history = await outcomes(runtime.database, (await refund_job(runtime.database, refund_id)).id)
    assert history[0] == "lease_expired" and history[-1] == "succeeded", history


async def test_reconciliation_settles_a_refund_left_pending_after_a_lost_answer_and_the_job_sends_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    """`seawall reconcile` adopts the provider's refund as the job would; the job's next attempt then
    finds the refund settled and makes no provider call at all."""
    payment_id, intent_id = await captured_payment(client, auth, runtime)
    refund_id = await requested_refund(client, auth, payment_id)
    clock = FakeClock(datetime.now(UTC))
    await lose_the_first_answer(runtime, sandbox, clock, refund_id=refund_id, intent_id=intent_id,
                                payment_id=payment_id)
    sandbox.state.payments.forget_idempotency_keys()

    report = await reconcile(runtime.database, runtime.payments, clock=runtime.clock)

    assert (report.checked, report.settled, report.unresolved) == (1, 1, [])
    assert (await load_refund(runtime.database, payment_id)).status == "succeeded"
    requests_before = sum(sandbox.state.requests.outcomes.values())
    clock.advance(MOVE_ON)
    await attempt(runtime, clock)
    assert sum(sandbox.state.requests.outcomes.values()) == requests_before  # settled: nothing to ask
    await assert_refunded_exactly_once(runtime, sandbox, payment_id=payment_id, intent_id=intent_id)
    assert (await reconcile(runtime.database, runtime.payments, clock=runtime.clock)).checked == 0
