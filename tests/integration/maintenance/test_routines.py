"""The routine checks as periodic jobs (issue 14, Deliver 4): the reconcile job settles a payment the
provider charged but Seawall did not record; the ledger check finds an imbalance and says so loudly
(an error log line, a metric an alert reads, a `problems` run); the purge job purges through the
worker; and `seawall doctor --json` shows each routine's latest run."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from seawall.jobs import enqueue
from seawall.jobs.models import Job
from seawall.jobs.worker import Worker
from seawall.kit.clock import FakeClock
from seawall.maintenance.models import RoutineRun
from seawall.maintenance.tasks import LEDGER_JOB, PURGE_JOB, RECONCILE_JOB
from seawall.observability.metrics import METRICS, Metrics
from seawall.payments.models import LedgerEntry
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import bearer
from tests.integration.jobs.harness import run_cli_async
from tests.integration.maintenance.rows import add_job, days
from tests.integration.payments.conftest import PAYMENT_SETTINGS
from tests.integration.payments.flow import load_payment, new_user, payments_worker, post_payment
from tests.support.logs import captured_logs


@pytest.fixture
def settings_overrides(sandbox: SandboxServer) -> dict[str, Any]:
    # No fault here is a timeout: generous timeouts keep a loaded CI machine's slowness from failing lookups.
    return {**PAYMENT_SETTINGS, "stripe_api_base": sandbox.base_url, "provider_connect_timeout_seconds": 5.0,
            "provider_read_timeout_seconds": 5.0, "provider_total_timeout_seconds": 10.0}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> CollectorRegistry:
    """The metric catalogue on a registry of this test's own (what `metrics.rebuild` does, undone after)."""
    registry = CollectorRegistry()
    for name, metric in vars(Metrics(registry)).items():
        monkeypatch.setattr(METRICS, name, metric)
    return registry


async def run_routine(runtime: Runtime, kind: str, *, clock: FakeClock | None = None) -> RoutineRun:
    """Enqueue the periodic job `kind` as the worker would, run the maintenance queue until idle, and
    return the run it recorded."""
    clock = clock or FakeClock(datetime.now(UTC))
    async with runtime.database.transaction() as session:
        await enqueue(session, kind, {}, clock=clock)
    worker = Worker(database=runtime.database, settings=runtime.settings, clock=clock, runtime=runtime,
                    queues=["maintenance"])
    await worker.run_until_idle()
    async with runtime.database.read_transaction() as session:
        job = (await session.execute(select(Job).where(Job.kind == kind).order_by(Job.id.desc()).limit(1))).scalar_one()
        assert job.status == "succeeded", job.last_error
        return (await session.execute(select(RoutineRun).order_by(RoutineRun.id.desc()).limit(1))).scalar_one()


async def doctor(runtime: Runtime) -> tuple[int, dict[str, Any]]:
    result = await run_cli_async(runtime.settings, "doctor", "--json")
    return result.returncode, json.loads(result.stdout)


def latest(report: dict[str, Any], routine: str) -> dict[str, Any]:
    [run] = [run for run in report["routines"]["latest"] if run["routine"] == routine]
    return run


@pytest.mark.backends("sqlite", "postgres")
async def test_the_reconcile_job_settles_a_payment_the_provider_charged_but_we_did_not_record(
        client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, registry: CollectorRegistry) -> None:
    auth = bearer(await new_user(client))
    payment_id = (await post_payment(client, auth, amount=2500))["id"]
    sandbox.set_faults(lost_response_rate=1.0, methods=["POST"])
    # The charge reached the provider, its answer was lost, and the clock stands still: no retry comes.
    await payments_worker(runtime, clock=FakeClock(datetime.now(UTC)), rng=random.Random(7)).run_until_idle()
    assert (await load_payment(runtime.database, payment_id)).status == "processing"
    assert [intent.status for intent in sandbox.state.intents_for(payment_id)] == ["succeeded"]
    # While the provider fails its lookups the run ends without settling, and without crashing.
    sandbox.set_faults(error_500_rate=1.0, methods=["GET"])
    unreachable = await run_routine(runtime, RECONCILE_JOB)
    assert (unreachable.outcome, unreachable.details["not_looked_up"], unreachable.details["settled"]) == ("ok", 1, 0)
    assert (await load_payment(runtime.database, payment_id)).status == "processing"
    sandbox.set_faults()

    run = await run_routine(runtime, RECONCILE_JOB)

    assert (run.routine, run.outcome, run.problems) == ("reconcile", "ok", 0)
    assert (run.details["checked"], run.details["settled"]) == (1, 1)
    payment = await load_payment(runtime.database, payment_id)
    assert payment.status == "succeeded"
    assert len(sandbox.state.intents_for(payment_id)) == 1, "looked up, never charged again"
    assert registry.get_sample_value("seawall_routine_runs_total", {"routine": "reconcile", "outcome": "ok"}) == 2
    code, report = await doctor(runtime)
    assert code == 0, report
    shown = latest(report, "reconcile")
    assert (shown["outcome"], shown["details"]["settled"]) == ("ok", 1)
    assert report["ledger"]["ok"] is True


@pytest.mark.backends("sqlite", "postgres")
async def test_the_ledger_check_reports_an_imbalance_loudly_and_doctor_shows_it(
        client: httpx.AsyncClient, runtime: Runtime, sandbox: SandboxServer, registry: CollectorRegistry) -> None:
    auth = bearer(await new_user(client))
    payment_id = (await post_payment(client, auth, amount=1500))["id"]
    await payments_worker(runtime).run_until_idle()
    assert (await load_payment(runtime.database, payment_id)).status == "succeeded"
    healthy = await run_routine(runtime, LEDGER_JOB)
    assert (healthy.outcome, healthy.problems, healthy.details["transactions"]) == ("ok", 0, 1)

    async with runtime.database.transaction() as session:  # one leg of the charge goes missing
        credit = (await session.execute(select(LedgerEntry).where(
            LedgerEntry.payment_id == payment_id, LedgerEntry.side == "credit"))).scalar_one()
        await session.delete(credit)
    with captured_logs() as logs:
        run = await run_routine(runtime, LEDGER_JOB)

    assert (run.routine, run.outcome) == ("ledger", "problems") and run.problems >= 1
    assert any(f"charge:{payment_id}" in line for line in run.details["problems"])
    [loud] = [line for line in logs.lines() if line["event"] == "maintenance.routine_problems"]
    assert loud["level"] == "error" and loud["routine"] == "ledger"
    assert registry.get_sample_value("seawall_routine_runs_total", {"routine": "ledger", "outcome": "problems"}) == 1
    assert registry.get_sample_value("seawall_ledger_problems_found_total") == run.problems

    code, report = await doctor(runtime)
    assert code == 1 and report["ledger"]["ok"] is False
    shown = latest(report, "ledger")
    assert (shown["outcome"], shown["problems"]) == ("problems", run.problems)
    assert [r["routine"] for r in report["routines"]["last_not_ok"]] == ["ledger"]


@pytest.mark.backends("sqlite", "postgres")
async def test_the_purge_job_purges_through_the_worker_and_records_what_it_purged(
        runtime: Runtime, registry: CollectorRegistry) -> None:
    now = datetime.now(UTC)
    old = await add_job(runtime.database, status="succeeded", created=now - days(9), finished=now - days(8),
                        attempts=2)

    run = await run_routine(runtime, PURGE_JOB, clock=FakeClock(now))

    assert (run.routine, run.outcome) == ("purge", "ok")
    assert run.details["purged"] == {"jobs": 1, "job_attempts": 2} and run.details["complete"] is True
    async with runtime.database.read_transaction() as session:
        assert await session.get(Job, old) is None
    assert registry.get_sample_value("seawall_retention_purged_rows_total", {"table": "jobs"}) == 1
    assert registry.get_sample_value("seawall_retention_purged_rows_total", {"table": "job_attempts"}) == 2
