"""All SQL of the job engine. Every write that records an outcome is fenced by the lease token.

Claims select due rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite ignores the clause and is
already serialized by `BEGIN IMMEDIATE`), then stamp each with a fresh lease token. A claim by id (a
broker delivery) uses the same conditions, so a message never overrides the row.

The broker relay's mark, `published_at`, is cleared by every requeue (retry, defer, release, replay),
so a job that goes back to the queue is published again when it is due; a running job whose lease
expired is publishable again until the relay has published it after that expiry.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.jobs.models import AttemptOutcome, Job, JobAttempt, JobStatus
from seawall.jobs.wakeup import notify_sql


async def insert_job(session: AsyncSession, job: Job, *, notify: bool) -> int | None:
    """INSERT the (transient) job and return its id; None if its `dedup_key` is already taken.

    With `notify` on PostgreSQL the same statement calls `pg_notify` for the job's queue (see
    `wakeup`), so enqueueing a due job costs one round trip.
    """
    table = Job.__table__
    values: dict[str, Any] = dict(
        kind=job.kind, queue=job.queue, payload=job.payload, status=job.status, dedup_key=job.dedup_key,
        attempts=job.attempts, max_attempts=job.max_attempts, next_run_at=job.next_run_at,
        created_at=job.created_at, updated_at=job.updated_at,
    )
    postgres = _dialect(session) == "postgresql"
    statement: Any = (postgresql_insert if postgres else sqlite_insert)(Job).values(**values)
    if job.dedup_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c.dedup_key])
    statement = statement.returning(table.c.id)
    if notify and postgres:
        inserted = statement.cte("inserted")
        query: Any = select(inserted.c.id, notify_sql(job.queue)).select_from(inserted)
    else:
        query = statement
    row = (await session.execute(query)).first()
    return None if row is None else int(row[0])


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def find_by_dedup_key(session: AsyncSession, dedup_key: str) -> Job | None:
    return (await session.execute(select(Job).where(Job.dedup_key == dedup_key))).scalar_one_or_none()


async def get(session: AsyncSession, job_id: int) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


def _due(now: datetime) -> Any:
    return and_(Job.status == JobStatus.QUEUED, Job.next_run_at <= now)


def _lease_expired(now: datetime) -> Any:
    return and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)


def _claimable(now: datetime) -> Any:
    """Queued and due, or running with an expired lease."""
    return or_(_due(now), _lease_expired(now))


async def claim_due(
    session: AsyncSession,
    *,
    queues: Sequence[str],
    kinds: Sequence[str],
    limit: int,
    now: datetime,
    lease_seconds: float,
    worker_id: str,
) -> list[Job]:
    """Claim up to `limit` due jobs: queued and due, or running with an expired lease."""
    due = (
        select(Job)
        .where(Job.queue.in_(queues), Job.kind.in_(kinds), _claimable(now))
        .order_by(Job.next_run_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    jobs = list((await session.execute(due)).scalars().all())
    return await _stamp_claims(session, jobs, now=now, lease_seconds=lease_seconds, worker_id=worker_id)


async def claim_by_ids(
    session: AsyncSession,
    *,
    job_ids: Sequence[int],
    queues: Sequence[str],
    kinds: Sequence[str],
    now: datetime,
    lease_seconds: float,
    worker_id: str,
) -> tuple[list[Job], set[int]]:
    """Claim these jobs where the row says they may run now (a broker delivery names them).

    Returns the claimed jobs and the ids that are claimable but locked by another transaction right
    now (typically the relay that published them, which marks them only after the broker confirmed):
    ask again shortly. Every other id is finished, not due, leased elsewhere or unknown here.
    """
    if not job_ids:
        return [], set()
    wanted = and_(Job.id.in_(job_ids), Job.queue.in_(queues), Job.kind.in_(kinds), _claimable(now))
    locked = select(Job).where(wanted).order_by(Job.id).with_for_update(skip_locked=True)
    jobs = list((await session.execute(locked)).scalars().all())
    claimed_ids = {job.id for job in jobs}
    busy: set[int] = set()
    if len(claimed_ids) < len(set(job_ids)):
        # A plain read does not wait for row locks: it shows the last committed state.
        rest = select(Job.id).where(wanted, Job.id.not_in(claimed_ids))
        busy = set((await session.execute(rest)).scalars().all())
    jobs = await _stamp_claims(session, jobs, now=now, lease_seconds=lease_seconds, worker_id=worker_id)
    return jobs, busy


async def _stamp_claims(
    session: AsyncSession, jobs: list[Job], *, now: datetime, lease_seconds: float, worker_id: str
) -> list[Job]:
    if not jobs:
        return []
    expired_tokens = [job.lease_token for job in jobs if job.status == JobStatus.RUNNING and job.lease_token]
    if expired_tokens:
        await session.execute(
            update(JobAttempt)
            .where(JobAttempt.lease_token.in_(expired_tokens), JobAttempt.outcome == AttemptOutcome.RUNNING)
            .values(outcome=AttemptOutcome.LEASE_EXPIRED, finished_at=now, error="lease expired")
        )
    expires = now + timedelta(seconds=lease_seconds)
    for job in jobs:
        job.status = JobStatus.RUNNING
        job.lease_token = secrets.token_hex(16)
        job.lease_expires_at = expires
        job.locked_by = worker_id
        job.attempts += 1
        job.updated_at = now
        session.add(
            JobAttempt(
                job_id=job.id,
                attempt=job.attempts,
                worker_id=worker_id,
                lease_token=job.lease_token,
                outcome=AttemptOutcome.RUNNING,
                started_at=now,
            )
        )
    await session.flush()
    return jobs


async def lock_publishable(
    session: AsyncSession, *, queues: Sequence[str], kinds: Sequence[str], now: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, queue) of jobs the relay should publish, locked (`SKIP LOCKED`) until its transaction ends.

    Due queued jobs not yet published, then running jobs whose lease expired and that were not
    published since. Selected by state, never by an id high-water mark: ids commit out of order.
    """
    unpublished = (
        select(Job.id, Job.queue)
        .where(Job.queue.in_(queues), Job.kind.in_(kinds), _due(now), Job.published_at.is_(None))
        .order_by(Job.next_run_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = [(job_id, queue) for job_id, queue in (await session.execute(unpublished)).all()]
    if len(rows) < limit:
        expired = (
            select(Job.id, Job.queue)
            .where(Job.queue.in_(queues), Job.kind.in_(kinds), _lease_expired(now),
                   or_(Job.published_at.is_(None), Job.published_at < Job.lease_expires_at))
            .order_by(Job.lease_expires_at, Job.id)
            .limit(limit - len(rows))
            .with_for_update(skip_locked=True)
        )
        rows += [(job_id, queue) for job_id, queue in (await session.execute(expired)).all()]
    return rows


async def mark_published(session: AsyncSession, *, job_ids: Sequence[int], now: datetime) -> None:
    """The broker confirmed a message for each of these (their rows are locked by the caller)."""
    if job_ids:
        await session.execute(update(Job).where(Job.id.in_(job_ids)).values(published_at=now))


def _owned(job_id: int, lease_token: str) -> Any:
    return and_(Job.id == job_id, Job.lease_token == lease_token, Job.status == JobStatus.RUNNING)


async def holds_lease(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime) -> bool:
    """True when the lease is still ours. Takes the row lock (PostgreSQL) so it stays ours until commit."""
    row = await session.execute(
        select(Job.id).where(_owned(job_id, lease_token)).with_for_update()
    )
    return row.first() is not None


async def renew_lease(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, lease_seconds: float
) -> bool:
    result = await session.execute(
        update(Job)
        .where(_owned(job_id, lease_token))
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _finish(
    session: AsyncSession,
    *,
    job_id: int,
    lease_token: str,
    now: datetime,
    values: dict[str, Any],
    outcome: AttemptOutcome,
    error: str | None,
) -> bool:
    result = await session.execute(update(Job).where(_owned(job_id, lease_token)).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(JobAttempt)
        .where(JobAttempt.job_id == job_id, JobAttempt.lease_token == lease_token)
        .values(outcome=outcome, error=error, finished_at=now)
    )
    return True


async def complete(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime) -> bool:
    return await _finish(
        session,
        job_id=job_id,
        lease_token=lease_token,
        now=now,
        values=dict(
            status=JobStatus.SUCCEEDED, lease_token=None, lease_expires_at=None, finished_at=now, updated_at=now
        ),
        outcome=AttemptOutcome.SUCCEEDED,
        error=None,
    )


async def _requeue(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, run_at: datetime,
    spend_attempt: bool, outcome: AttemptOutcome, error: str, last_error: str | None = None,
) -> bool:
    """Back to the queue, publishable again (`published_at` cleared); without `spend_attempt` the
    attempt does not count (it was not really tried)."""
    values: dict[str, Any] = dict(status=JobStatus.QUEUED, published_at=None, lease_token=None, lease_expires_at=None,
                                  next_run_at=run_at, updated_at=now)
    if not spend_attempt:
        values["attempts"] = Job.attempts - 1
    if last_error is not None:
        values["last_error"] = last_error
    return await _finish(session, job_id=job_id, lease_token=lease_token, now=now, values=values, outcome=outcome,
                         error=error)


async def schedule_retry(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, run_at: datetime, error: str
) -> bool:
    return await _requeue(session, job_id=job_id, lease_token=lease_token, now=now, run_at=run_at,
                          spend_attempt=True, outcome=AttemptOutcome.RETRY, error=error, last_error=error)


async def defer(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, run_at: datetime, reason: str
) -> bool:
    """Put an owned job back without spending the attempt (it was not really tried)."""
    return await _requeue(session, job_id=job_id, lease_token=lease_token, now=now, run_at=run_at,
                          spend_attempt=False, outcome=AttemptOutcome.DEFERRED, error=reason)


async def bury(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, error: str) -> bool:
    """Move an owned job to the dead-letter queue."""
    return await _finish(
        session,
        job_id=job_id,
        lease_token=lease_token,
        now=now,
        values=dict(
            status=JobStatus.DEAD,
            lease_token=None,
            lease_expires_at=None,
            last_error=error,
            finished_at=now,
            updated_at=now,
        ),
        outcome=AttemptOutcome.DEAD,
        error=error,
    )


async def release(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime) -> bool:
    """Hand an unfinished job back (graceful shutdown); the interrupted attempt does not count."""
    return await _requeue(session, job_id=job_id, lease_token=lease_token, now=now, run_at=now,
                          spend_attempt=False, outcome=AttemptOutcome.RELEASED, error="released during shutdown")


async def list_jobs(
    session: AsyncSession, *, status: str | None, limit: int, before_id: int | None
) -> list[Job]:
    """Newest first, keyset-paginated on id."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    return list((await session.execute(query)).scalars().all())


async def attempts_of(session: AsyncSession, job_id: int) -> list[JobAttempt]:
    """Oldest first. By id, not attempt number: a replay or a release starts numbering again."""
    query = select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.id)
    return list((await session.execute(query)).scalars().all())


async def requeue_dead(session: AsyncSession, *, job_id: int, now: datetime) -> bool:
    """Replay: a dead job runs again with a fresh attempt budget; its history and last error stay."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.DEAD)
        .values(status=JobStatus.QUEUED, attempts=0, next_run_at=now, finished_at=None, published_at=None,
                updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_dead(session: AsyncSession, *, finished_before: datetime | None) -> int:
    query = delete(Job).where(Job.status == JobStatus.DEAD)
    if finished_before is not None:
        query = query.where(Job.finished_at < finished_before)
    result = await session.execute(query)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: count for status, count in rows.all()}


async def count_attempts_by_outcome(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(JobAttempt.outcome, func.count()).group_by(JobAttempt.outcome))
    return {outcome: count for outcome, count in rows.all()}
