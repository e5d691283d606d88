"""The routine checks, and the record each run leaves (`routine_runs`, metrics, logs).

- `check_ledger_snapshot`: the ledger balances and agrees with payments and refunds
  (`payments.ledger.check_ledger`), read in one read transaction (`Database.read_transaction`): no
  write lock on SQLite, one snapshot on PostgreSQL, so the scan neither blocks writers nor sees half
  of a settlement.
- `inspect_database`: what `seawall doctor` reads (jobs per status, the ledger check, the routines'
  latest runs), in one read transaction too.
- `record_run`: stores a run's outcome, counts it in `seawall_routine_runs_total{routine, outcome}`,
  and logs it; a run that found problems logs at error level (`maintenance.routine_problems`) so
  it is loud, and for the ledger adds them to `seawall_ledger_problems_found_total`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import Database
from seawall.jobs import repository as jobs_repository
from seawall.maintenance import repository
from seawall.maintenance.models import Routine, RoutineRun, RunOutcome
from seawall.observability.metrics import METRICS
from seawall.payments.ledger import LedgerCheck, check_ledger

log = structlog.get_logger("seawall.maintenance")

MAX_PROBLEM_LINES = 20  # kept in a run's record (all are counted)


@dataclass
class RunResult:
    """What one run of a routine found: `details` are its counts, `problems` the lines a person reads."""

    routine: Routine
    started_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def outcome(self) -> RunOutcome:
        if self.error is not None:
            return RunOutcome.ERROR
        return RunOutcome.PROBLEMS if self.problems else RunOutcome.OK


async def check_ledger_snapshot(database: Database) -> LedgerCheck:
    async with database.read_transaction() as session:
        return await check_ledger(session)


def record_run(session: AsyncSession, result: RunResult, *, finished_at: datetime) -> RoutineRun:
    """Add the run's row to `session` (the caller commits), count it, and log it."""
    outcome = result.outcome
    details = dict(result.details)
    if result.problems:
        details["problems"] = result.problems[:MAX_PROBLEM_LINES]
    if result.error is not None:
        details["error"] = result.error[:2000]
    run = RoutineRun(routine=result.routine, outcome=outcome, problems=len(result.problems), details=details,
                     started_at=result.started_at, finished_at=finished_at)
    repository.add_run(session, run)
    METRICS.routine_runs.labels(routine=result.routine, outcome=outcome).inc()
    if result.routine == Routine.LEDGER and result.problems:
        METRICS.ledger_problems_found.inc(len(result.problems))
    fields = {"routine": str(result.routine), "outcome": str(outcome), "problems": len(result.problems),
              **{k: v for k, v in details.items() if k != "problems"}}
    if outcome == RunOutcome.PROBLEMS:
        log.error("maintenance.routine_problems", first_problems=result.problems[:5], **fields)
    elif outcome == RunOutcome.ERROR:
        log.warning("maintenance.routine_failed", **fields)
    else:
        log.info("maintenance.routine_ok", **fields)
    return run


def describe_run(run: RoutineRun) -> dict[str, Any]:
    """A run as `seawall doctor` shows it."""
    return {"routine": run.routine, "outcome": run.outcome, "problems": run.problems,
            "started_at": run.started_at.isoformat(), "finished_at": run.finished_at.isoformat(),
            "details": run.details}


async def inspect_database(database: Database, *, with_routines: bool = True) -> dict[str, Any]:
    """`seawall doctor`'s database figures, in one read transaction: jobs per status, the ledger check
    (at most 50 problem lines), and (`with_routines`: the schema has `routine_runs`) the latest run of
    each routine and the latest of each that was not `ok`."""
    async with database.read_transaction() as session:
        jobs = await jobs_repository.count_by_status(session)
        ledger = await check_ledger(session)
        latest = await repository.latest_runs(session) if with_routines else []
        failing = await repository.last_problem_runs(session) if with_routines else []
    report: dict[str, Any] = {
        "jobs": jobs,
        "ledger": {"ok": ledger.ok, "transactions": ledger.transactions, "problems": ledger.problems[:50]},
    }
    if with_routines:
        report["routines"] = {"latest": [describe_run(run) for run in latest],
                              "last_not_ok": [describe_run(run) for run in failing]}
    return report
