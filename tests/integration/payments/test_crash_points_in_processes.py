"""Promise 2 at the worst instant of a charge, in real processes: the provider answered, and the
worker died before recording anything of it (`payments.after_provider_call`, armed at probability 1
in a real `seawall worker`, so it dies there on its first charge).

After a clean worker takes over: exactly one charge at the sandbox provider (counted in its own
records, not our tables), the payment succeeded once, its one ledger transaction balanced. A decline
is an answer too: the declined payment fails once, with the card's decline code, and nothing is
charged or booked.
"""

from __future__ import annotations

import signal
from typing import Any

import httpx
import pytest

from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.conftest import PAYMENT_SETTINGS
from tests.integration.payments.flow import (
    assert_agrees_with_provider,
    charge_job,
    charge_outcomes,
    ledger_entries,
    load_payment,
    post_payment,
    wait_for_payments,
)
from tests.support.server import SeawallProcess, ServerFactory

PROVIDER_SETTINGS = ("provider_connect_timeout_seconds", "provider_read_timeout_seconds",
                     "provider_total_timeout_seconds", "retry_budget_capacity")


def worker_env(sandbox: SandboxServer, **extra: str) -> dict[str, Any]:
    env = {f"SEAWALL_{name.upper()}": str(PAYMENT_SETTINGS[name]) for name in PROVIDER_SETTINGS}
    return {**env, "SEAWALL_STRIPE_API_BASE": sandbox.base_url, "SEAWALL_JOB_LEASE_SECONDS": "2", **extra}


def start_payments_worker(servers: ServerFactory, env: dict[str, str]) -> SeawallProcess:
    return servers.start("worker", env=env, args=["--queues", "payments", "--concurrency", "1"])


async def die_after_the_provider_call(servers: ServerFactory, sandbox: SandboxServer) -> None:
    """Start a worker armed at `payments.after_provider_call` and wait until it has died there."""
    crashed = start_payments_worker(servers, worker_env(
        sandbox, SEAWALL_CRASH_POINTS="payments.after_provider_call=1", SEAWALL_CRASH_SEED="14"))

    async def died() -> bool:
        return crashed.process.poll() is not None

    await wait_until(died, what="the armed worker to die after the provider call")
    assert crashed.process.returncode == -signal.SIGKILL, crashed.log()


async def test_a_worker_killed_after_the_provider_charged_leaves_one_charge_recorded_once(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
    servers: ServerFactory,
) -> None:
    payment_id = (await post_payment(client, auth, amount=2500))["id"]
    await die_after_the_provider_call(servers, sandbox)

    # The instant of death: the provider holds a succeeded charge; we recorded only that one may exist.
    [intent] = sandbox.state.intents_for(payment_id)
    assert (intent.status, intent.amount_received) == ("succeeded", 2500)
    unrecorded = await load_payment(runtime.database, payment_id)
    assert (unrecorded.status, unrecorded.provider_outcome_unknown) == ("processing", True)
    assert unrecorded.provider_intent_id is None
    assert await ledger_entries(runtime.database, payment_id) == []

    clean = start_payments_worker(servers, worker_env(sandbox))
    [payment] = await wait_for_payments(runtime.database, [payment_id], "succeeded")

    assert sandbox.state.intents_for(payment_id) == [intent]  # looked up, not charged again
    assert payment.provider_intent_id == intent.id
    entries = await ledger_entries(runtime.database, payment_id)
    assert sorted((e.transaction_id, e.account, e.side, e.amount) for e in entries) == [
        (f"charge:{payment_id}", "provider_balance", "debit", 2500),
        (f"charge:{payment_id}", "revenue", "credit", 2500)]
    assert await assert_agrees_with_provider(runtime.database, sandbox, [payment_id]) == {payment_id: "succeeded"}
    assert await charge_outcomes(runtime.database, payment_id) == ["lease_expired", "succeeded"]
    assert (await charge_job(runtime.database, payment_id)).attempts == 2
    assert clean.stop() == 0, clean.log()


@pytest.mark.backends("sqlite")  # the handler's rule; the engine's part is the same on every backend
async def test_a_worker_killed_after_a_decline_fails_the_payment_once_and_charges_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, sandbox: SandboxServer,
    servers: ServerFactory,
) -> None:
    payment_id = (await post_payment(client, auth, payment_method="pm_card_chargeDeclined"))["id"]
    await die_after_the_provider_call(servers, sandbox)

    [intent] = sandbox.state.intents_for(payment_id)
    assert intent.status == "requires_payment_method"  # declined at the provider, unknown to us
    assert (await load_payment(runtime.database, payment_id)).status == "processing"

    clean = start_payments_worker(servers, worker_env(sandbox))
    [payment] = await wait_for_payments(runtime.database, [payment_id], "failed")

    assert (payment.failure_code, payment.provider_intent_id) == ("generic_decline", intent.id)
    assert sandbox.state.intents_for(payment_id) == [intent]
    assert await ledger_entries(runtime.database, payment_id) == []
    assert await assert_agrees_with_provider(runtime.database, sandbox, [payment_id]) == {payment_id: "failed"}
    assert await charge_outcomes(runtime.database, payment_id) == ["lease_expired", "succeeded"]
    assert clean.stop() == 0, clean.log()
