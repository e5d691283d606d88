"""Enqueueing: the transactional outbox.

`enqueue()` only INSERTs a row with the caller's session, so the job commits or rolls back with the
business rows that imply it. Nothing leaves the process here: a worker picks the row up after commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import guarded_insert
from seawall.jobs import repository
from seawall.jobs.models import Job, JobStatus
from seawall.jobs.registry import JobRegistry
from seawall.jobs.registry import registry as default_registry
from seawall.jobs.wakeup import notify_enqueued
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
    primitives (ids, not objects): handlers reload state when they run.
    """
    spec = registry.get(kind)
    if dedup_key is not None:
        existing = await repository.find_by_dedup_key(session, dedup_key)
        if existing is not None:
            return existing
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
    if job.next_run_at <= now:
        await notify_enqueued(session, job.queue)
    if dedup_key is None:
        session.add(job)
        await session.flush()
        return job
    try:
        async with guarded_insert(session):
            session.add(job)
    except IntegrityError:
        # A concurrent transaction inserted the same dedup key first and has committed.
        existing = await repository.find_by_dedup_key(session, dedup_key)
        if existing is None:
            raise
        return existing
    return job
