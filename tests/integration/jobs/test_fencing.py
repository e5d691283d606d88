"""Promise: a worker that lost its lease cannot record anything; its writes roll back.

Deterministic versions of the SIGSTOP scenario: the lease is taken over by claiming with a `now`
past its expiry, so no test waits for wall-clock time to pass.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.jobs import ClaimedJob, Job, JobContext, LeaseLostError, repository
from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    EFFECT,
    attempt_history,
    enqueue_effect,
    in_process_worker,
    require_job,
    wait_for_status,
    wait_until,
)
from tests.support.effects import count_effects, test_effects


async def claim(runtime: Runtime, *, worker_id: str, seconds_from_now: float = 0.0,
                lease_seconds: float = 1.0) -> Job:
    now = runtime.clock.now() + timedelta(seconds=seconds_from_now)
    async with runtime.database.transaction() as session:
        jobs = await repository.claim_due(
            session, queues=["default"], kinds=[EFFECT], limit=1, now=now,
            lease_seconds=lease_seconds, worker_id=worker_id,
        )
    assert len(jobs) == 1
    return jobs[0]


def as_claimed(job: Job, *, lease_token: str) -> ClaimedJob:
    return ClaimedJob(id=job.id, kind=job.kind, queue=job.queue, payload=dict(job.payload),
                      attempt=job.attempts, max_attempts=job.max_attempts, lease_token=lease_token)


async def take_over(runtime: Runtime, payload: dict[str, object] | None = None) -> tuple[Job, str, str]:
    """Claim a new job as A, then as B once A's lease has expired: (job, A's token, B's token)."""
    job = await enqueue_effect(runtime.database, payload or {})
    first = await claim(runtime, worker_id="worker-a")
    stale_token = first.lease_token
    assert stale_token is not None
    second = await claim(runtime, worker_id="worker-b", seconds_from_now=60)
    assert second.id == job.id
    assert second.lease_token is not None and second.lease_token != stale_token
    return second, stale_token, second.lease_token


async def test_a_claimed_job_is_not_claimed_again_while_its_lease_holds(runtime: Runtime) -> None:
    await enqueue_effect(runtime.database)
    await claim(runtime, worker_id="worker-a", lease_seconds=30)
    async with runtime.database.transaction() as session:
        again = await repository.claim_due(
            session, queues=["default"], kinds=[EFFECT], limit=10,
            now=runtime.clock.now() + timedelta(seconds=29), lease_seconds=30, worker_id="worker-b",
        )
    assert again == []


async def test_stale_lease_token_cannot_complete_retry_bury_release_or_renew(runtime: Runtime) -> None:
    job, stale, current = await take_over(runtime)
    now = runtime.clock.now()

    async with runtime.database.transaction() as session:
        assert not await repository.complete(session, job_id=job.id, lease_token=stale, now=now)
        assert not await repository.schedule_retry(session, job_id=job.id, lease_token=stale, now=now,
                                                   run_at=now, error="stale")
        assert not await repository.bury(session, job_id=job.id, lease_token=stale, now=now, error="stale")
        assert not await repository.release(session, job_id=job.id, lease_token=stale, now=now)
        assert not await repository.renew_lease(session, job_id=job.id, lease_token=stale, now=now,
                                                lease_seconds=30)
        assert not await repository.holds_lease(session, job_id=job.id, lease_token=stale, now=now)
        assert await repository.holds_lease(session, job_id=job.id, lease_token=current, now=now)

    unchanged = await require_job(runtime.database, job.id)
    assert (unchanged.status, unchanged.lease_token, unchanged.locked_by, unchanged.attempts) == (
        "running", current, "worker-b", 2)
    history = await attempt_history(runtime.database, job.id)
    assert [(a.worker_id, a.outcome) for a in history] == [("worker-a", "lease_expired"), ("worker-b", "running")]

    async with runtime.database.transaction() as session:
        assert await repository.complete(session, job_id=job.id, lease_token=current, now=now)
    assert (await require_job(runtime.database, job.id)).status == "succeeded"
    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["lease_expired", "succeeded"]


async def test_handler_writes_of_a_worker_that_lost_its_lease_roll_back(runtime: Runtime) -> None:
    job, stale, current = await take_over(runtime)
    old_owner = in_process_worker(runtime.database, runtime.settings)

    # The old owner runs the handler to the end: it writes its effect, then its completion is fenced.
    await old_owner._execute(as_claimed(job, lease_token=stale))

    assert await count_effects(runtime.database) == 0
    still = await require_job(runtime.database, job.id)
    assert (still.status, still.lease_token) == ("running", current)

    new_owner = in_process_worker(runtime.database, runtime.settings)
    await new_owner._execute(as_claimed(job, lease_token=current))
    assert await count_effects(runtime.database, job_id=job.id) == 1
    assert (await require_job(runtime.database, job.id)).status == "succeeded"


async def test_fenced_transaction_of_a_worker_that_lost_its_lease_rolls_back(runtime: Runtime) -> None:
    job, stale, current = await take_over(runtime)

    def context(lease_token: str, session: AsyncSession) -> JobContext:
        return JobContext(job=as_claimed(job, lease_token=lease_token), session=session,
                          database=runtime.database, settings=runtime.settings, clock=runtime.clock, runtime=None)

    async with runtime.database.sessionmaker() as unused:
        with pytest.raises(LeaseLostError):
            async with context(stale, unused).transaction() as session:
                await session.execute(test_effects.insert().values(job_id=job.id, attempt=1, worker_pid=0))
        assert await count_effects(runtime.database) == 0

        async with context(current, unused).transaction() as session:
            await session.execute(test_effects.insert().values(job_id=job.id, attempt=2, worker_pid=0))
        assert await count_effects(runtime.database) == 1


async def test_running_worker_stops_its_handler_when_its_lease_is_taken_over(
    runtime: Runtime, tmp_path: Path
) -> None:
    flag = tmp_path / "hold"
    flag.touch()
    settings = runtime.settings.model_copy(update={"job_lease_seconds": 0.6})
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(flag)})
    owner = in_process_worker(runtime.database, settings)
    run = asyncio.create_task(owner.run())
    try:
        await wait_for_status(runtime.database, job.id, "running")
        # Another worker takes the job over as if the owner's lease had expired.
        thief = await claim(runtime, worker_id="worker-b", seconds_from_now=60, lease_seconds=3600)

        async def owner_gave_up() -> bool:
            return owner.running_count == 0

        await wait_until(owner_gave_up, what="the old owner to cancel its handler at lease renewal")
    finally:
        owner.stop()
        await run

    assert await count_effects(runtime.database) == 0
    taken = await require_job(runtime.database, job.id)
    assert (taken.status, taken.lease_token) == ("running", thief.lease_token)
    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["lease_expired", "running"]
