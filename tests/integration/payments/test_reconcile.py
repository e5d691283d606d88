"""Reconciliation against the provider's records (DESIGN §3: "a timeout or lost response means
unknown ... look the charge up"). A payment left `processing` while the provider holds its succeeded
intent — the response was lost and the worker stopped before retrying — is settled as succeeded, with
its ledger entries, and the charge job later finds it settled and charges nothing. A captured payment
the provider has no record of is reported, never "fixed". `seawall doctor --json` then reports a
balanced ledger."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall.kit.clock import FakeClock
from seawall.payments.reconcile import reconcile
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.jobs.harness import run_cli_async
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    assert_ledger_ok,
    charge_job,
    charge_outcomes,
    ledger_entries,
    load_payment,
    payments_worker,
    post_payment,
    running,
    wait_for_payments,
)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """Reconciliation needs the provider's answers, and no fault here is a timeout: the payments
    suite's 0.5 s timeouts would turn a loaded CI machine's slowness into failed lookups."""
    return settings_overrides | {"provider_connect_timeout_seconds": 5.0, "provider_read_timeout_seconds": 5.0,
                                 "provider_total_timeout_seconds": 10.0}


async def test_a_payment_left_processing_after_a_lost_response_is_settled_by_reconciliation(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer, var_dir: Path,
) -> None:
    charged_id = (await post_payment(client, auth, amount=2500))["id"]
    declined_id = (await post_payment(client, auth, payment_method="pm_card_chargeDeclinedInsufficientFunds"))["id"]
    sandbox.set_faults(lost_response_rate=1.0, methods=["POST"])
    # On a clock that does not move, the retries never come due: as if the worker stopped right after.
    clock = FakeClock(datetime.now(UTC))
    worker = payments_worker(runtime, clock=clock, rng=random.Random(7))
    await worker.run_until_idle()

    for payment_id in (charged_id, declined_id):
        payment = await load_payment(runtime.database, payment_id)
        assert (payment.status, payment.provider_outcome_unknown) == ("processing", True)
        assert await charge_outcomes(runtime.database, payment_id) == ["retry"]
        assert len(sandbox.state.intents_for(payment_id)) == 1
    assert sandbox.state.intents_for(charged_id)[0].status == "succeeded"
    assert await ledger_entries(runtime.database, charged_id) == []
    sandbox.set_faults()

    report = await reconcile(runtime.database, runtime.payments, clock=runtime.clock)

    assert (report.checked, report.settled, report.unresolved) == (2, 2, [])
    charged = await load_payment(runtime.database, charged_id)
    [intent] = sandbox.state.intents_for(charged_id)
    assert (charged.status, charged.provider_intent_id) == ("succeeded", intent.id)
    legs = {(e.account, e.side, e.amount) for e in await ledger_entries(runtime.database, charged_id)}
    assert legs == {("provider_balance", "debit", 2500), ("revenue", "credit", 2500)}
    declined = await load_payment(runtime.database, declined_id)
    assert (declined.status, declined.failure_code) == ("failed", "insufficient_funds")
    assert await ledger_entries(runtime.database, declined_id) == []
    await assert_ledger_ok(runtime.database)
    again = await reconcile(runtime.database, runtime.payments, clock=runtime.clock)
    assert (again.checked, again.settled) == (0, 0)  # nothing unsettled is left

    # The charge jobs come due, find their payments settled, and send nothing.
    requests_before = sum(sandbox.state.requests.outcomes.values())
    clock.advance(60)
    await worker.run_until_idle()
    for payment_id in (charged_id, declined_id):
        assert (await charge_job(runtime.database, payment_id)).status == "succeeded"
    assert sum(sandbox.state.requests.outcomes.values()) == requests_before
    await assert_agrees_with_provider(runtime.database, sandbox, [charged_id, declined_id])

    doctor = await run_cli_async(runtime.settings, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    checked = json.loads(doctor.stdout)
    assert checked["ledger"] == {"ok": True, "transactions": 1, "problems": []}
    assert checked["healthy"] is True


async def test_a_captured_payment_the_provider_does_not_know_is_reported_not_fixed(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
) -> None:
    payment_id = (await post_payment(client, auth))["id"]
    async with running(payments_worker(runtime)) as worker_task:
        await wait_for_payments(runtime.database, [payment_id], "succeeded", worker_task=worker_task)
    sandbox.state.reset()  # the provider forgets: a disagreement only a person can resolve

    report = await reconcile(runtime.database, runtime.payments, clock=runtime.clock, all_payments=True)

    assert report.settled == 0
    assert [(d.payment_id, d.ours, d.theirs, d.action) for d in report.unresolved] == [
        (payment_id, "succeeded", "absent", "reported")]
    assert (await load_payment(runtime.database, payment_id)).status == "succeeded"
    await assert_ledger_ok(runtime.database)
