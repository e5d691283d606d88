"""Queue statistics for monitoring: how many jobs each queue holds in each state, and how long its oldest
due job has waited, in one query (`queue_counts`; read by `observability/queue_stats.py` at scrape time).

States: `due` (queued, `next_run_at` reached: waiting for a worker), `scheduled` (queued for later: a
first run in the future or a retry's backoff), `running` (claimed, under a lease), `dead` (the
dead-letter queue). Succeeded jobs are not counted (the query reads only the rows of these states,
through `ix_jobs_status_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.jobs.models import Job, JobStatus


@dataclass(frozen=True)
class QueueCounts:
    queue: str
    due: int
    scheduled: int
    running: int
    dead: int
    oldest_due_at: datetime | None  # next_run_at of the oldest due job; None when none is due


async def queue_counts(session: AsyncSession, *, now: datetime) -> list[QueueCounts]:
    """One row per queue that holds a due, scheduled, running or dead job, as of `now`."""
    queued = Job.status == JobStatus.QUEUED
    is_due = queued & (Job.next_run_at <= now)

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)

    statement = (
        select(
            Job.queue,
            count(is_due),
            count(queued & (Job.next_run_at > now)),
            count(Job.status == JobStatus.RUNNING),
            count(Job.status == JobStatus.DEAD),
            func.min(case((is_due, Job.next_run_at))),
        )
        .where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DEAD)))
        .group_by(Job.queue)
    )
    rows = (await session.execute(statement)).all()
    return [QueueCounts(queue=queue, due=int(due), scheduled=int(scheduled), running=int(running), dead=int(dead),
                        oldest_due_at=oldest) for queue, due, scheduled, running, dead, oldest in rows]
