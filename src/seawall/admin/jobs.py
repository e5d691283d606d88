"""Operator routes for jobs and the dead-letter queue (behind `SEAWALL_ADMIN_API_KEY`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seawall.admin.schemas import JobAttemptOut, JobDetailOut, JobOut, JobPageOut
from seawall.jobs import dead_letters
from seawall.web.deps import AdminDep, ClockDep, ReadSessionDep, SessionDep

router = APIRouter(prefix="/admin/jobs", tags=["admin"], dependencies=[AdminDep])


@router.get("")
async def list_jobs(
    session: ReadSessionDep,
    status: Annotated[str | None, Query(description="queued, running, succeeded or dead")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> JobPageOut:
    jobs, next_cursor = await dead_letters.list_jobs(session, status=status, limit=limit, cursor=cursor)
    return JobPageOut(data=[JobOut.model_validate(job) for job in jobs], next_cursor=next_cursor)


@router.get("/stats")
async def job_stats(session: ReadSessionDep) -> dict[str, dict[str, int]]:
    """Jobs per status and attempts per outcome (retry, deferred, lease_expired, ...)."""
    return await dead_letters.stats(session)


@router.get("/{job_id}")
async def get_job(job_id: int, session: ReadSessionDep) -> JobDetailOut:
    job, attempts = await dead_letters.get_job(session, job_id)
    return JobDetailOut(
        **JobOut.model_validate(job).model_dump(),
        attempt_history=[JobAttemptOut.model_validate(a) for a in attempts],
    )


@router.post("/{job_id}/replay")
async def replay_job(job_id: int, session: SessionDep, clock: ClockDep) -> JobOut:
    job = await dead_letters.replay(session, job_id, clock=clock)
    return JobOut.model_validate(job)
