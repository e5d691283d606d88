"""Enqueueing: the transactional outbox.

`enqueue()` only INSERTs a row with the caller's session, so the job commits or rolls back with the
business rows that imply it. Nothing leaves the process here: a worker picks the row up after commit.
The row also records where the job came from: the originating request id and, while tracing is on,
the traceparent of an `enqueue <kind>` span (`telemetry`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.jobs import repository, telemetry
from seawall.jobs.models import Job, JobStatus
from seawall.jobs.registry import JobRegistry
from seawall.jobs.registry import registry as default_registry
from seawall.jobs.wakeup import wake_local_workers_on_commit
from seawall.kit.clock import Clock, SystemClock
from seawall.observability import tracing
from seawall.observability.commit_counts import count_on_commit

DEFAULT_MAX_ATTEMPTS = 10


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    queue: str | None = None,
    run_at: datetime | None = None,
    dedup_key: str | None = None,
    max_attempts: int | None = None,
    clock: Clock | None = None,
    registry: JobRegistry = default_registry,
) -> Job:
    """Insert a job in the caller's transaction; the same `dedup_key` again returns the existing job.

    `queue` and `max_attempts` default to what the kind registered. The payload must be JSON
    primitives (ids, not objects): handlers reload state when they run. One statement: the INSERT
    skips a dedup key that exists (`ON CONFLICT DO NOTHING`, waiting for a concurrent transaction
    that holds the key to end), and only then is the existing job read. The returned `Job` is a
    detached snapshot of the row as enqueued (or as found), not tracked by the session.
    """
    spec = registry.get(kind)
    now = (clock or SystemClock()).now()
    job = Job(
        kind=kind,
        queue=queue or spec.queue,
        payload=payload,
        status=JobStatus.QUEUED,
        dedup_key=dedup_key,
        attempts=0,
        max_attempts=max_attempts or spec.max_attempts or DEFAULT_MAX_ATTEMPTS,
        next_run_at=run_at or now,
        created_at=now,
        updated_at=now,
        request_id=telemetry.originating_request_id(),
    )
    if not tracing.enabled():
        return await _insert(session, job, now=now)
    with telemetry.enqueue_span(kind, job.queue) as span:
        job.traceparent = tracing.traceparent_of(span.get_span_context())
        inserted = await _insert(session, job, now=now)
        span.set_attribute("seawall.job.id", inserted.id)
        if inserted is not job:
            span.set_attribute("seawall.job.deduplicated", True)
        return inserted


async def _insert(session: AsyncSession, job: Job, *, now: datetime) -> Job:
    job_id = await repository.insert_job(session, job, notify=job.next_run_at <= now)
    if job_id is None:
        existing = await repository.find_by_dedup_key(session, job.dedup_key or "")
        if existing is None:  # cannot happen: the conflicting row committed or is ours
            raise RuntimeError(f"job with dedup key {job.dedup_key!r} conflicted but cannot be read")
        return existing
    job.id = job_id
    count_on_commit(session, "jobs_enqueued", key=str(job_id), kind=job.kind, queue=job.queue)
    if job.next_run_at <= now:
        wake_local_workers_on_commit(session, job.queue)
    return job
