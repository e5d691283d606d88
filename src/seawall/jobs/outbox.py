"""Enqueueing: the transactional outbox.

`enqueue()` only INSERTs a row with the caller's session, so the job commits or rolls back with the
business rows that imply it. Nothing leaves the process here: a worker picks the row up after commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.jobs import repository
from seawall.jobs.models import Job, JobStatus
from seawall.jobs.registry import JobRegistry
from seawall.jobs.registry import registry as default_registry
from seawall.jobs.wakeup import wake_local_workers_on_commit
from seawall.kit.clock import Clock, SystemClock

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
    )
    job_id = await repository.insert_job(session, job, notify=job.next_run_at <= now)
    if job_id is None:
        existing = await repository.find_by_dedup_key(session, dedup_key or "")
        if existing is None:  # cannot happen: the conflicting row committed or is ours
            raise RuntimeError(f"job with dedup key {dedup_key!r} conflicted but cannot be read")
        return existing
    job.id = job_id
    if job.next_run_at <= now:
        wake_local_workers_on_commit(session, job.queue)
    return job
