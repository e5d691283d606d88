"""Operator view of jobs: list, inspect, replay and purge the dead-letter queue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.errors import BadRequestError, ConflictError, NotFoundError
from seawall.jobs import repository
from seawall.jobs.models import Job, JobAttempt, JobStatus
from seawall.kit.bounds import bounded_id
from seawall.kit.clock import Clock


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return bounded_id(int(cursor))
    except ValueError:
        raise BadRequestError("cursor is not valid", details={"cursor": cursor}) from None


def parse_status(status: str | None) -> str | None:
    if status is None:
        return None
    allowed = [s.value for s in JobStatus]
    if status not in allowed:
        raise BadRequestError(f"status must be one of {', '.join(allowed)}", details={"status": status})
    return status


async def list_jobs(
    session: AsyncSession, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Job], str | None]:
    jobs = await repository.list_jobs(
        session, status=parse_status(status), limit=limit + 1, before_id=parse_cursor(cursor)
    )
    page = jobs[:limit]
    next_cursor = str(page[-1].id) if len(jobs) > limit else None
    return page, next_cursor


async def get_job(session: AsyncSession, job_id: int) -> tuple[Job, list[JobAttempt]]:
    job = await repository.get(session, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    return job, await repository.attempts_of(session, job_id)


async def replay(session: AsyncSession, job_id: int, *, clock: Clock) -> Job:
    job = await repository.get(session, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    if not await repository.requeue_dead(session, job_id=job_id, now=clock.now()):
        raise ConflictError(f"job {job_id} is {job.status}; only dead jobs can be replayed")
    refreshed = await repository.get(session, job_id)
    assert refreshed is not None
    return refreshed


async def purge(session: AsyncSession, *, older_than_hours: float | None, clock: Clock) -> int:
    cutoff = clock.now() - timedelta(hours=older_than_hours) if older_than_hours is not None else None
    return await repository.delete_dead(session, finished_before=cutoff)





async def stats(session: AsyncSession) -> dict[str, dict[str, int]]:
    return {
        "jobs": await repository.count_by_status(session),
        "attempts": await repository.count_attempts_by_outcome(session),
    }
