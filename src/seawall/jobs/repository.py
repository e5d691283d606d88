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

import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import execute
from seawall.jobs.models import AttemptOutcome, Job, JobAttempt, JobStatus
from seawall.jobs.wakeup import notify_sql

_jobs: Table = Job.__table__  # type: ignore[assignment]
_attempts: Table = JobAttempt.__table__  # type: ignore[assignment]

_INSERT_JOB_COLUMNS = ("kind", "queue", "payload", "status", "dedup_key", "attempts", "max_attempts", "next_run_at",
                       "created_at", "updated_at", "traceparent", "request_id")


@functools.cache
def _insert_job_statement(*, postgres: bool, dedup: bool, notify: bool) -> Any:
    """The job's INSERT, built once per shape; parameters are the columns (and `notify_queue`)."""
    table = _jobs
    values = {name: bindparam(name, type_=table.c[name].type) for name in _INSERT_JOB_COLUMNS}
    statement: Any = (postgresql_insert if postgres else sqlite_insert)(table).values(values)
    if dedup:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c.dedup_key])
    statement = statement.returning(table.c.id)
    if notify and postgres:
        inserted = statement.cte("inserted")
        return select(inserted.c.id, notify_sql(bindparam("notify_queue", type_=String))).select_from(inserted)
    return statement


@dataclass(frozen=True, slots=True)
class LeasedJob:
    """A row as a claim left it: running, leased to `locked_by` under `lease_token`."""

    id: int
    kind: str
    queue: str
    payload: dict[str, Any]
    attempts: int  # including this one
    max_attempts: int
    lease_token: str
    lease_expires_at: datetime
    locked_by: str
    status: str = JobStatus.RUNNING
    traceparent: str | None = None  # where the job came from (see `jobs/telemetry.py`)
    request_id: str | None = None
    last_attempt_traceparent: str | None = None


async def insert_job(session: AsyncSession, job: Job, *, notify: bool) -> int | None:
    """INSERT the (transient) job and return its id; None if its `dedup_key` is already taken.

    With `notify` on PostgreSQL the same statement calls `pg_notify` for the job's queue (see
    `wakeup`), so enqueueing a due job costs one round trip.
    """
    postgres = _dialect(session) == "postgresql"
    statement = _insert_job_statement(postgres=postgres, dedup=job.dedup_key is not None, notify=notify and postgres)
    params = {name: getattr(job, name) for name in _INSERT_JOB_COLUMNS}
    params["notify_queue"] = job.queue
    row = (await execute(session, statement, params)).first()
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
) -> list[LeasedJob]:
    """Claim up to `limit` due jobs: queued and due, or running with an expired lease."""
    return await _claim(session, queues=queues, kinds=kinds, job_ids=None, limit=limit, now=now,
                        lease_seconds=lease_seconds, worker_id=worker_id)


async def claim_by_ids(
    session: AsyncSession,
    *,
    job_ids: Sequence[int],
    queues: Sequence[str],
    kinds: Sequence[str],
    now: datetime,
    lease_seconds: float,
    worker_id: str,
) -> tuple[list[LeasedJob], set[int]]:
    """Claim these jobs where the row says they may run now (a broker delivery names them).

    Returns the claimed jobs and the ids that are claimable but locked by another transaction right
    now (typically the relay that published them, which marks them only after the broker confirmed):
    ask again shortly. Every other id is finished, not due, leased elsewhere or unknown here.
    """
    if not job_ids:
        return [], set()
    wanted = and_(Job.id.in_(job_ids), Job.queue.in_(queues), Job.kind.in_(kinds), _claimable(now))
    jobs = await _claim(session, queues=queues, kinds=kinds, job_ids=job_ids, limit=len(job_ids), now=now,
                        lease_seconds=lease_seconds, worker_id=worker_id)
    claimed_ids = {job.id for job in jobs}
    busy: set[int] = set()
    if len(claimed_ids) < len(set(job_ids)):
        # A plain read does not wait for row locks: it shows the last committed state.
        rest = select(Job.id).where(wanted, Job.id.not_in(claimed_ids))
        busy = set((await session.execute(rest)).scalars().all())
    return jobs, busy


_CLAIMED_COLUMNS = ("id", "kind", "queue", "payload", "attempts", "max_attempts", "lease_token", "traceparent",
                    "request_id", "last_attempt_traceparent")


# PostgreSQL's claim: one statement leases the rows, logs their attempts and closes the attempts of
# the expired leases it took over (data-modifying CTEs). Written as SQL: it is PostgreSQL's alone.
_CLAIM_POSTGRES = """
WITH due AS (
    SELECT id, status AS old_status, lease_token AS old_token FROM jobs
    WHERE queue = ANY(:queues) AND kind = ANY(:kinds) {by_ids}
      AND ((status = 'queued' AND next_run_at <= :now) OR (status = 'running' AND lease_expires_at < :now))
    ORDER BY {order} LIMIT :limit FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs SET status = 'running', lease_token = :prefix || '.' || jobs.id::text, lease_expires_at = :expires,
        locked_by = :worker_id, attempts = jobs.attempts + 1, updated_at = :now
    FROM due WHERE jobs.id = due.id
    RETURNING jobs.id, jobs.kind, jobs.queue, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.lease_token,
        jobs.traceparent, jobs.request_id, jobs.last_attempt_traceparent, due.old_status, due.old_token
), expired AS (
    UPDATE job_attempts SET outcome = 'lease_expired', finished_at = :now, error = 'lease expired'
    WHERE outcome = 'running' AND lease_token IN (SELECT old_token FROM claimed WHERE old_status = 'running')
), logged AS (
    INSERT INTO job_attempts (job_id, attempt, worker_id, lease_token, outcome, started_at)
    SELECT id, attempts, :worker_id, lease_token, 'running', :now FROM claimed
)
SELECT id, kind, queue, payload, attempts, max_attempts, lease_token, traceparent, request_id,
    last_attempt_traceparent FROM claimed
"""


@functools.cache
def _claim_statements(*, postgres: bool, by_ids: bool) -> tuple[Any, Any]:
    """The claim, built once per shape: PostgreSQL's one statement, or SQLite's (picks, lease) pair.
    Parameters: `queues`, `kinds`, `ids` (by id), `now`, `limit`, `prefix`, `expires`, `worker_id`."""
    c = _jobs.c
    moment = c.next_run_at.type
    if postgres:
        sql = _CLAIM_POSTGRES.format(by_ids="AND id = ANY(:ids)" if by_ids else "",
                                     order="id" if by_ids else "next_run_at, id")
        types = [bindparam("queues", type_=ARRAY(String)), bindparam("kinds", type_=ARRAY(String)),
                 bindparam("now", type_=moment), bindparam("expires", type_=moment), bindparam("limit", type_=Integer)]
        if by_ids:
            types.append(bindparam("ids", type_=ARRAY(BigInteger)))
        returned = (c[name] for name in _CLAIMED_COLUMNS)
        return text(sql).bindparams(*types).columns(*returned), None
    now = bindparam("now", type_=moment)
    due = and_(c.status == JobStatus.QUEUED, c.next_run_at <= now)
    expired = and_(c.status == JobStatus.RUNNING, c.lease_expires_at < now)
    of_worker = [c.queue.in_(bindparam("queues", expanding=True)), c.kind.in_(bindparam("kinds", expanding=True))]
    columns = (c.id, c.status.label("old_status"), c.lease_token.label("old_token"))
    limit = bindparam("limit", type_=Integer)
    if by_ids:
        picks: tuple[Any, ...] = (select(*columns).where(*of_worker, c.id.in_(bindparam("ids", expanding=True)),
                                                         or_(due, expired)).order_by(c.id).limit(limit),)
    else:
        # Two picks, not one with OR: SQLite then walks the partial index of queued rows in order
        # (`ix_jobs_due`) instead of every row of the queue, finished ones included. Expired leases
        # first (few, and older work, as PostgreSQL's one ordered pick has them): picked after the due
        # rows, a dead worker's jobs waited as long as due rows kept filling every claim.
        picks = (select(*columns).where(*of_worker, expired).order_by(c.lease_expires_at, c.id).limit(limit),
                 select(*columns).where(*of_worker, due).order_by(c.next_run_at, c.id).limit(limit))
    lease = (update(_jobs).where(c.id.in_(bindparam("ids", expanding=True)))
             .values(status=JobStatus.RUNNING,
                     lease_token=bindparam("prefix", type_=String) + "." + cast(c.id, String),
                     lease_expires_at=bindparam("expires", type_=moment),
                     locked_by=bindparam("worker_id", type_=String), attempts=c.attempts + 1, updated_at=now)
             .returning(*(c[name] for name in _CLAIMED_COLUMNS)))
    return picks, lease


async def _claim(
    session: AsyncSession, *, queues: Sequence[str], kinds: Sequence[str], job_ids: Sequence[int] | None,
    limit: int, now: datetime, lease_seconds: float, worker_id: str,
) -> list[LeasedJob]:
    """Lease the claimable rows (of `job_ids`, or the due ones of `queues`/`kinds`, up to `limit`,
    skipping rows locked by others), log their attempts, and close the attempts of expired leases
    they took over.

    Each claimed row gets its own fencing token: a random prefix for this claim and the job's id.
    On PostgreSQL this is one statement (data-modifying CTEs); on SQLite, whose writers are already
    serialized by `BEGIN IMMEDIATE`, a SELECT, one UPDATE … RETURNING and one INSERT.
    Returns what was claimed, oldest id first.
    """
    expires = now + timedelta(seconds=lease_seconds)
    params: dict[str, Any] = dict(queues=list(queues), kinds=list(kinds), now=now, limit=limit,
                                  prefix=secrets.token_hex(8), expires=expires, worker_id=worker_id)
    if job_ids is not None:
        params["ids"] = list(job_ids)
    postgres = _dialect(session) == "postgresql"
    claim, lease = _claim_statements(postgres=postgres, by_ids=job_ids is not None)
    if postgres:
        rows = (await execute(session, claim, params)).all()
    else:
        picked: list[Any] = []
        for pick in claim:
            if len(picked) < limit:
                picked += (await execute(session, pick, {**params, "limit": limit - len(picked)})).all()
        if not picked:
            return []
        expired_tokens = [row.old_token for row in picked if row.old_status == JobStatus.RUNNING and row.old_token]
        if expired_tokens:
            await session.execute(
                update(_attempts)
                .where(_attempts.c.lease_token.in_(expired_tokens), _attempts.c.outcome == AttemptOutcome.RUNNING)
                .values(outcome=AttemptOutcome.LEASE_EXPIRED, finished_at=now, error="lease expired")
            )
        rows = (await session.execute(lease, {**params, "ids": [row.id for row in picked]})).all()
        if rows:
            await session.execute(insert(_attempts), [
                dict(job_id=row.id, attempt=row.attempts, worker_id=worker_id, lease_token=row.lease_token,
                     outcome=AttemptOutcome.RUNNING, started_at=now) for row in rows
            ])
    return [
        LeasedJob(id=row.id, kind=row.kind, queue=row.queue, payload=row.payload, attempts=row.attempts,
                  max_attempts=row.max_attempts, lease_token=row.lease_token, lease_expires_at=expires,
                  locked_by=worker_id, traceparent=row.traceparent, request_id=row.request_id,
                  last_attempt_traceparent=row.last_attempt_traceparent)
        for row in sorted(rows, key=lambda row: row.id)
    ]


@dataclass(frozen=True, slots=True)
class Publishable:
    """A job the relay should publish: where to, since when it is due, and where it came from."""

    id: int
    queue: str
    due_at: datetime  # next_run_at, or when the lease of a running job expired
    traceparent: str | None
    request_id: str | None


async def lock_publishable(
    session: AsyncSession, *, queues: Sequence[str], kinds: Sequence[str], now: datetime, limit: int
) -> list[Publishable]:
    """Jobs the relay should publish, locked (`SKIP LOCKED`) until its transaction ends.

    Due queued jobs not yet published, then running jobs whose lease expired and that were not
    published since. Selected by state, never by an id high-water mark: ids commit out of order.
    """
    unpublished = (
        select(Job.id, Job.queue, Job.next_run_at, Job.traceparent, Job.request_id)
        .where(Job.queue.in_(queues), Job.kind.in_(kinds), _due(now), Job.published_at.is_(None))
        .order_by(Job.next_run_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = [Publishable(*row) for row in (await session.execute(unpublished)).all()]
    if len(rows) < limit:
        expired = (
            select(Job.id, Job.queue, Job.lease_expires_at, Job.traceparent, Job.request_id)
            .where(Job.queue.in_(queues), Job.kind.in_(kinds), _lease_expired(now),
                   or_(Job.published_at.is_(None), Job.published_at < Job.lease_expires_at))
            .order_by(Job.lease_expires_at, Job.id)
            .limit(limit - len(rows))
            .with_for_update(skip_locked=True)
        )
        rows += [Publishable(job_id, queue, expired_at or now, traceparent, request_id)
                 for job_id, queue, expired_at, traceparent, request_id in (await session.execute(expired)).all()]
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


_COMPLETE_POSTGRES = """
WITH done AS (
    UPDATE jobs SET status = 'succeeded', lease_token = NULL, lease_expires_at = NULL, finished_at = :now,
        updated_at = :now
    WHERE id = ANY(:ids) AND lease_token = ANY(:tokens) AND status = 'running'
    RETURNING id
), closed AS (
    UPDATE job_attempts SET outcome = 'succeeded', error = NULL, finished_at = :now
    WHERE job_id IN (SELECT id FROM done) AND lease_token = ANY(:tokens)
)
SELECT id FROM done
"""


@functools.cache
def _complete_statements(*, postgres: bool) -> tuple[Any, Any]:
    """Completion, built once: PostgreSQL's one statement, or SQLite's (job, attempts) pair.
    Parameters: `ids`, `tokens`, `now`."""
    c = _jobs.c
    if postgres:
        return text(_COMPLETE_POSTGRES).bindparams(
            bindparam("ids", type_=ARRAY(BigInteger)), bindparam("tokens", type_=ARRAY(String)),
            bindparam("now", type_=c.finished_at.type),
        ), None
    now = bindparam("now", type_=c.finished_at.type)
    done = (update(_jobs)
            .where(c.id.in_(bindparam("ids", expanding=True)), c.lease_token.in_(bindparam("tokens", expanding=True)),
                   c.status == JobStatus.RUNNING)
            .values(status=JobStatus.SUCCEEDED, lease_token=None, lease_expires_at=None, finished_at=now,
                    updated_at=now)
            .returning(c.id))
    close = (update(_attempts)
             .where(_attempts.c.job_id.in_(bindparam("ids", expanding=True)),
                    _attempts.c.lease_token.in_(bindparam("tokens", expanding=True)))
             .values(outcome=AttemptOutcome.SUCCEEDED, error=None, finished_at=now))
    return done, close


async def complete_many(session: AsyncSession, *, claims: Sequence[tuple[int, str]], now: datetime) -> set[int]:
    """Mark these jobs succeeded where their lease still holds, closing their attempts; returns the
    ids completed (the others were fenced off)."""
    if not claims:
        return set()
    params: dict[str, Any] = dict(ids=[job_id for job_id, _ in claims], tokens=[token for _, token in claims], now=now)
    postgres = _dialect(session) == "postgresql"
    finish, close = _complete_statements(postgres=postgres)
    done = set((await execute(session, finish, params)).scalars().all())
    if close is not None and done:
        await session.execute(close, {**params, "ids": list(done)})
    return done


async def complete(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime) -> bool:
    return job_id in await complete_many(session, claims=[(job_id, lease_token)], now=now)


async def _requeue(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, run_at: datetime,
    spend_attempt: bool, outcome: AttemptOutcome, error: str, last_error: str | None = None,
    attempt_traceparent: str | None = None,
) -> bool:
    """Back to the queue, publishable again (`published_at` cleared); without `spend_attempt` the
    attempt does not count (it was not really tried). `attempt_traceparent` (this attempt's span,
    while tracing is on) is kept for the next attempt's span to link to."""
    values: dict[str, Any] = dict(status=JobStatus.QUEUED, published_at=None, lease_token=None, lease_expires_at=None,
                                  next_run_at=run_at, updated_at=now)
    if attempt_traceparent is not None:
        values["last_attempt_traceparent"] = attempt_traceparent
    if not spend_attempt:
        values["attempts"] = Job.attempts - 1
    if last_error is not None:
        values["last_error"] = last_error
    return await _finish(session, job_id=job_id, lease_token=lease_token, now=now, values=values, outcome=outcome,
                         error=error)


async def schedule_retry(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, run_at: datetime, error: str,
    attempt_traceparent: str | None = None,
) -> bool:
    return await _requeue(session, job_id=job_id, lease_token=lease_token, now=now, run_at=run_at,
                          spend_attempt=True, outcome=AttemptOutcome.RETRY, error=error, last_error=error,
                          attempt_traceparent=attempt_traceparent)


async def defer(
    session: AsyncSession, *, job_id: int, lease_token: str, now: datetime, run_at: datetime, reason: str,
    attempt_traceparent: str | None = None,
) -> bool:
    """Put an owned job back without spending the attempt (it was not really tried)."""
    return await _requeue(session, job_id=job_id, lease_token=lease_token, now=now, run_at=run_at,
                          spend_attempt=False, outcome=AttemptOutcome.DEFERRED, error=reason,
                          attempt_traceparent=attempt_traceparent)


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


async def release(session: AsyncSession, *, job_id: int, lease_token: str, now: datetime,
                  attempt_traceparent: str | None = None) -> bool:
    """Hand an unfinished job back (graceful shutdown); the interrupted attempt does not count."""
    return await _requeue(session, job_id=job_id, lease_token=lease_token, now=now, run_at=now,
                          spend_attempt=False, outcome=AttemptOutcome.RELEASED, error="released during shutdown",
                          attempt_traceparent=attempt_traceparent)


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
