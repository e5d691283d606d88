"""Operator routes for jobs and the dead-letter queue (behind an operator key; replay needs `operate`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from seawall.admin.schemas import JobAttemptOut, JobDetailOut, JobOut, JobPageOut
from seawall.jobs import dead_letters
from seawall.kit.bounds import INT64_MAX
from seawall.web.deps import AdminDep, ClockDep, ReadSessionDep, SessionDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/admin/jobs", tags=["admin"], dependencies=[AdminDep])

JobId = Annotated[int, Path(ge=1, le=INT64_MAX, description="the job's id (a BIGINT)")]


@router.get("", responses=error_responses(400, 401, 404, 422, 429, 503))
async def list_jobs(
    session: ReadSessionDep,
    status: Annotated[str | None, Query(description="queued, running, succeeded or dead")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> JobPageOut:
    jobs, next_cursor = await dead_letters.list_jobs(session, status=status, limit=limit, cursor=cursor)
    return JobPageOut(data=[JobOut.model_validate(job) for job in jobs], next_cursor=next_cursor)


@router.get("/stats", responses=error_responses(401, 404, 429, 503))
async def job_stats(session: ReadSessionDep) -> dict[str, dict[str, int]]:
    """Jobs per status and attempts per outcome (retry, deferred, lease_expired, ...)."""
    return await dead_letters.stats(session)


@router.get("/{job_id}", responses=error_responses(401, 404, 422, 429, 503))
async def get_job(job_id: JobId, session: ReadSessionDep) -> JobDetailOut:
    job, attempts = await dead_letters.get_job(session, job_id)
    return JobDetailOut(
        **JobOut.model_validate(job).model_dump(),
        attempt_history=[JobAttemptOut.model_validate(a) for a in attempts],
    )


@router.post("/{job_id}/replay", responses=error_responses(401, 404, 409, 422, 429, 503))
async def replay_job(job_id: JobId, session: SessionDep, clock: ClockDep) -> JobOut:
    job = await dead_letters.replay(session, job_id, clock=clock)
    return JobOut.model_validate(job)
