"""The routine checks as periodic jobs on the `maintenance` queue (enqueued once per period by some
worker that runs that queue; `jobs.worker._enqueue_periodic`):

- `maintenance.reconcile_payments`, every 15 min: payments and refunds left unsettled are looked up at
  the provider and settled (`payments.reconcile`); disagreements it must not fix are its problems,
  lookups that fail (the provider down) are counted and left for the next run;
- `maintenance.check_ledger`, every hour: the ledger balances and agrees with payments and refunds,
  read in a read transaction (`checks.check_ledger_snapshot`);
- `maintenance.purge_expired`, every 5 min: rows past their retention, bounded per run (`retention`).

Each run leaves a `routine_runs` row (`checks.record_run`): written with the job's completion when it
ran to the end, in a transaction of its own (then the job is retried) when it raised.
"""

from __future__ import annotations

from typing import Any, Protocol

from seawall.jobs import JobContext, job_handler
from seawall.maintenance.checks import RunResult, check_ledger_snapshot, record_run
from seawall.maintenance.models import Routine
from seawall.maintenance.retention import RetentionPolicy, purge_expired
from seawall.payments.gateway import PaymentGateway
from seawall.payments.reconcile import reconcile

RECONCILE_JOB = "maintenance.reconcile_payments"
LEDGER_JOB = "maintenance.check_ledger"
PURGE_JOB = "maintenance.purge_expired"


class MaintenanceJobRuntime(Protocol):
    """What the routine checks use of the process runtime (`ctx.runtime`)."""

    @property
    def payments(self) -> PaymentGateway: ...


async def _record_failure(ctx: JobContext[Any], result: RunResult, error: Exception) -> None:
    result.error = f"{type(error).__name__}: {error}"
    async with ctx.database.transaction() as session:
        record_run(session, result, finished_at=ctx.clock.now())


@job_handler(RECONCILE_JOB, queue="maintenance", every_seconds=900, max_attempts=3, timeout_seconds=600)
async def reconcile_payments(ctx: JobContext[MaintenanceJobRuntime]) -> None:
    result = RunResult(Routine.RECONCILE, started_at=ctx.clock.now())
    try:
        report = await reconcile(ctx.database, ctx.runtime.payments, clock=ctx.clock)
    except Exception as error:
        await _record_failure(ctx, result, error)
        raise
    # A payment whose lookup failed (the provider down) is not a problem found: the next run looks again.
    result.details = {"checked": report.checked, "settled": report.settled,
                      "not_looked_up": len(report.not_looked_up),
                      "actions": [f"payment {d.payment_id}: {d.action}" for d in report.discrepancies
                                  if d.action != "reported"][:20]}
    result.problems = [f"payment {d.payment_id} is {d.ours} here, {d.theirs} at the provider"
                       for d in report.unresolved]
    record_run(ctx.session, result, finished_at=ctx.clock.now())


@job_handler(LEDGER_JOB, queue="maintenance", every_seconds=3600, max_attempts=3, timeout_seconds=600)
async def check_ledger(ctx: JobContext[object]) -> None:
    result = RunResult(Routine.LEDGER, started_at=ctx.clock.now())
    try:
        ledger = await check_ledger_snapshot(ctx.database)
    except Exception as error:
        await _record_failure(ctx, result, error)
        raise
    result.details = {"transactions": ledger.transactions}
    result.problems = list(ledger.problems)
    record_run(ctx.session, result, finished_at=ctx.clock.now())


@job_handler(PURGE_JOB, queue="maintenance", every_seconds=300, max_attempts=3, timeout_seconds=600)
async def purge_expired_rows(ctx: JobContext[object]) -> None:
    result = RunResult(Routine.PURGE, started_at=ctx.clock.now())
    try:
        report = await purge_expired(ctx.database, RetentionPolicy.from_settings(ctx.settings), now=ctx.clock.now())
    except Exception as error:
        await _record_failure(ctx, result, error)
        raise
    result.details = {"purged": report.purged, "batches": report.batches, "complete": report.complete,
                      "left_for_next_run": report.unfinished}
    record_run(ctx.session, result, finished_at=ctx.clock.now())
