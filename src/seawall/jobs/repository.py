"""All SQL of the job engine. Every write that records an outcome is fenced by the lease token.

Claims select due rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite ignores the clause and is
already serialized by `BEGIN IMMEDIATE`), then stamp each with a fresh lease token, in one statement
per batch on PostgreSQL; outcomes and their attempt rows are written in one statement too, and
completions of several jobs can share it (`complete_many`). A claim by id (a
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

from sqlalchemy import String, and_, cast, delete, func, insert, literal, or_, select, update
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
    wanted = and_(Job.queue.in_(queues), Job.kind.in_(kinds), _claimable(now))
    return await _claim(session, wanted, limit=limit, now=now, lease_seconds=lease_seconds, worker_id=worker_id)


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
    jobs = await _claim(session, wanted, limit=len(job_ids), now=now, lease_seconds=lease_seconds,
                        worker_id=worker_id, order=(Job.id,))
    claimed_ids = {job.id for job in jobs}
    busy: set[int] = set()
    if len(claimed_ids) < len(set(job_ids)):
        # A plain read does not wait for row locks: it shows the last committed state.
        rest = select(Job.id).where(wanted, Job.id.not_in(claimed_ids))
        busy = set((await session.execute(rest)).scalars().all())
    return jobs, busy


async def _claim(
    session: AsyncSession, wanted: Any, *, limit: int, now: datetime, lease_seconds: float, worker_id: str,
    order: Sequence[Any] = (Job.next_run_at, Job.id),
) -> list[Job]:
    """Lease the rows matching `wanted` (up to `limit`, skipping rows locked by others), log their
    attempts, and close the attempts of expired leases they took over.

    Each claimed row gets its own fencing token: a random prefix for this claim and the job's id.
    On PostgreSQL this is one statement (data-modifying CTEs); on SQLite, whose writers are already
    serialized by `BEGIN IMMEDIATE`, a SELECT and one UPDATE … RETURNING and one INSERT.
    Returns detached `Job` snapshots with the claimed columns set.
    """
    prefix = secrets.token_hex(8)
    expires = now + timedelta(seconds=lease_seconds)
    due = (select(Job.id.label("id"), Job.status.label("old_status"), Job.lease_token.label("old_token"))
           .where(wanted).order_by(*order).limit(limit).with_for_update(skip_locked=True))
    leased: dict[str, Any] = dict(
        status=JobStatus.RUNNING, lease_token=literal(prefix) + "." + cast(Job.id, String), lease_expires_at=expires,
        locked_by=worker_id, attempts=Job.attempts + 1, updated_at=now,
    )
    columns = (Job.id, Job.kind, Job.queue, Job.payload, Job.attempts, Job.max_attempts, Job.lease_token)
    if _dialect(session) == "postgresql":
        due_cte = due.cte("due")
        claimed = (update(Job).where(Job.id == due_cte.c.id).values(**leased)
                   .returning(*columns, due_cte.c.old_status, due_cte.c.old_token).cte("claimed"))
        expired = (update(JobAttempt)
                   .where(JobAttempt.lease_token.in_(select(claimed.c.old_token)
                                                     .where(claimed.c.old_status == JobStatus.RUNNING)),
                          JobAttempt.outcome == AttemptOutcome.RUNNING)
                   .values(outcome=AttemptOutcome.LEASE_EXPIRED, finished_at=now, error="lease expired")
                   .cte("expired"))
        attempts = insert(JobAttempt).from_select(
            ["job_id", "attempt", "worker_id", "lease_token", "outcome", "started_at"],
            select(claimed.c.id, claimed.c.attempts, literal(worker_id), claimed.c.lease_token,
                   literal(AttemptOutcome.RUNNING.value), literal(now, JobAttempt.started_at.type)),
        ).cte("attempts")
        rows = (await session.execute(select(claimed).add_cte(expired, attempts))).all()
    else:
        picked = (await session.execute(due)).all()
        if not picked:
            return []
        expired_tokens = [row.old_token for row in picked if row.old_status == JobStatus.RUNNING and row.old_token]
        if expired_tokens:
            await session.execute(
                update(JobAttempt)
                .where(JobAttempt.lease_token.in_(expired_tokens), JobAttempt.outcome == AttemptOutcome.RUNNING)
                .values(outcome=AttemptOutcome.LEASE_EXPIRED, finished_at=now, error="lease expired")
            )
        rows = (await session.execute(
            update(Job).where(Job.id.in_([row.id for row in picked])).values(**leased).returning(*columns)
        )).all()
        if rows:
            await session.execute(insert(JobAttempt).values([
                dict(job_id=row.id, attempt=row.attempts, worker_id=worker_id, lease_token=row.lease_token,
                     outcome=AttemptOutcome.RUNNING, started_at=now) for row in rows
            ]))
    return [
        Job(id=row.id, kind=row.kind, queue=row.queue, payload=row.payload, status=JobStatus.RUNNING,
            attempts=row.attempts, max_attempts=row.max_attempts, lease_token=row.lease_token,
            lease_expires_at=expires, locked_by=worker_id, updated_at=now)
        for row in sorted(rows, key=lambda row: row.id)
    ]


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


def _owned_any(claims: Sequence[tuple[int, str]]) -> Any:
    """Rows still leased under these (id, token) pairs: a token names one job's one claim."""
    return and_(Job.id.in_([job_id for job_id, _ in claims]), Job.lease_token.in_([token for _, token in claims]),
                Job.status == JobStatus.RUNNING)


async def holds_lease(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime) -> bool:
    """True when the lease is still ours. Takes the row lock (PostgreSQL) so it stays ours until commit."""
    row = await session.execute(
        select(Job.id).where(_owned(job_id, lease_token)).with_for_update()
    )
    return row.first() is not None


async def renew_lease(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, lease_seconds: float
) -> bool:
    return job_id in await renew_leases(session, claims=[(job_id, lease_token)], now=now, lease_seconds=lease_seconds)


async def renew_leases(
    session: AsyncSession, *, claims: Sequence[tuple[int, str]], now: datetime, lease_seconds: float
) -> set[int]:
    """Extend every lease still held under these (job id, token) pairs; returns the ids renewed."""
    if not claims:
        return set()
    result = await session.execute(
        update(Job).where(_owned_any(claims))
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(Job.id)
    )
    return set(result.scalars().all())


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
    return bool(await _finish_many(session, claims=[(job_id, lease_token)], now=now, values=values, outcome=outcome,
                                   error=error))


async def _finish_many(
    session: AsyncSession,
    *,
    claims: Sequence[tuple[int, str]],
    now: datetime,
    values: dict[str, Any],
    outcome: AttemptOutcome,
    error: str | None,
) -> set[int]:
    """Record one outcome for the jobs still owned under these (id, token) pairs, and close their
    attempts; returns the ids recorded (the others were fenced off). One statement on PostgreSQL."""
    if not claims:
        return set()
    finished = update(Job).where(_owned_any(claims)).values(**values).returning(Job.id)
    tokens = [token for _, token in claims]  # a token names one job's one attempt
    closing = dict(outcome=outcome, error=error, finished_at=now)
    if _dialect(session) == "postgresql":
        done = finished.cte("done")
        attempts = (update(JobAttempt)
                    .where(JobAttempt.job_id.in_(select(done.c.id)), JobAttempt.lease_token.in_(tokens))
                    .values(**closing).cte("closed"))
        return set((await session.execute(select(done.c.id).add_cte(attempts))).scalars().all())
    ids = set((await session.execute(finished)).scalars().all())
    if ids:
        await session.execute(
            update(JobAttempt).where(JobAttempt.job_id.in_(ids), JobAttempt.lease_token.in_(tokens)).values(**closing)
        )
    return ids


def _succeeded(now: datetime) -> dict[str, Any]:
    return dict(status=JobStatus.SUCCEEDED, lease_token=None, lease_expires_at=None, finished_at=now, updated_at=now)


async def complete_many(session: AsyncSession, *, claims: Sequence[tuple[int, str]], now: datetime) -> set[int]:
    """Mark these jobs succeeded where their lease still holds; returns the ids completed."""
    return await _finish_many(session, claims=claims, now=now, values=_succeeded(now),
                              outcome=AttemptOutcome.SUCCEEDED, error=None)


async def complete(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime) -> bool:
    return await _finish(
        session,
        job_id=job_id,
        lease_token=lease_token,
        now=now,
        values=_succeeded(now),
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
