"""The crash test counts what it claims to: numbers never inserted are lost, inserts beyond a number's
first are duplicated, and jobs not finished are stranded. Checked on a table filled by hand, so a
queue that loses or repeats work cannot pass unnoticed."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from seawall.chaos.crash_test import CrashTestOptions, CrashTestReport, _count_outcome, _prepare
from seawall.chaos.crash_test_jobs import crash_test_rows
from seawall.jobs.models import Job
from seawall.runtime import Runtime

pytestmark = pytest.mark.backends("sqlite", "postgres")


async def test_lost_duplicated_and_stranded_are_counted_from_the_table_and_the_jobs(runtime: Runtime) -> None:
    database = runtime.database
    await _prepare(database, CrashTestOptions(jobs=10))
    inserted = [0, 1, 2, 3, 3, 4, 5, 5, 5, 6]  # 7, 8, 9 lost; 3 once and 5 twice too many
    async with database.transaction() as session:
        await session.execute(crash_test_rows.insert(), [
            {"job_number": number, "attempt": 1, "worker_pid": 1} for number in inserted])
        await session.execute(update(Job).values(status="succeeded", attempts=1))
        await session.execute(update(Job).where(Job.payload["n"].as_integer() == 9).values(status="running",
                                                                                          attempts=3))
    report = CrashTestReport(backend="sqlite", jobs=10, seed=0, kill_at=[0.5], lease_seconds=2, concurrency=1)

    await _count_outcome(database, report)

    assert (report.rows, report.distinct, report.lost, report.duplicated) == (10, 7, 3, 3)
    assert (report.unfinished, report.dead, report.reruns) == (1, 0, 2)
    assert report.ok is False
