"""Promise: a committed job runs, and its effect is applied exactly once, with workers competing."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from seawall.jobs import Job, JobAttempt, enqueue
from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    EFFECT,
    in_process_worker,
    start_worker,
    stop_all,
    wait_for_log,
    wait_until,
)
from tests.support.effects import test_effects
from tests.support.server import ServerFactory

JOBS = 200


async def enqueue_batch(runtime: Runtime, count: int, **payload: object) -> list[int]:
    async with runtime.database.transaction() as session:
        jobs = [await enqueue(session, EFFECT, {"label": f"job-{n}", **payload}) for n in range(count)]
    return [job.id for job in jobs]


async def effects_per_job(runtime: Runtime) -> dict[int, int]:
    query = select(test_effects.c.job_id, func.count()).group_by(test_effects.c.job_id)
    async with runtime.database.transaction() as session:
        return {job_id: count for job_id, count in (await session.execute(query)).all()}


async def statuses(runtime: Runtime) -> dict[str, int]:
    query = select(Job.status, func.count()).group_by(Job.status)
    async with runtime.database.transaction() as session:
        return {status: count for status, count in (await session.execute(query)).all()}


async def succeeding_workers(runtime: Runtime) -> set[str]:
    query = select(JobAttempt.worker_id).where(JobAttempt.outcome == "succeeded").distinct()
    async with runtime.database.transaction() as session:
        return set((await session.execute(query)).scalars().all())


async def assert_each_job_applied_once(runtime: Runtime, job_ids: list[int]) -> None:
    assert await statuses(runtime) == {"succeeded": len(job_ids)}
    assert await effects_per_job(runtime) == {job_id: 1 for job_id in job_ids}


async def test_committed_jobs_run_exactly_once_with_three_workers_in_one_loop(runtime: Runtime) -> None:
    job_ids = await enqueue_batch(runtime, JOBS, sleep_on_attempts=[1], sleep_seconds=0.02)
    workers = [in_process_worker(runtime.database, runtime.settings, concurrency=4) for _ in range(3)]

    await asyncio.gather(*(worker.run_until_idle() for worker in workers))

    await assert_each_job_applied_once(runtime, job_ids)
    if runtime.settings.broker_url is None:  # through a broker, one loop's relay may hand a loaded worker every id
        assert len(await succeeding_workers(runtime)) >= 2, "the workers did not actually compete"


async def test_committed_jobs_run_exactly_once_with_three_worker_processes(
    runtime: Runtime, servers: ServerFactory
) -> None:
    processes = [start_worker(servers, concurrency=4) for _ in range(3)]
    for process in processes:
        await wait_for_log(process, "worker.started")

    # Each job waits 20 ms before its write, as a provider call would. Jobs that only write let one
    # process, its writing transactions back to back, finish them all before another process's
    # writer (polling SQLite's lock) gets in: the processes would not compete.
    job_ids = await enqueue_batch(runtime, JOBS, sleep_on_attempts=[1], sleep_seconds=0.02)

    async def all_finished() -> bool:
        counts = await statuses(runtime)
        return counts.get("succeeded", 0) + counts.get("dead", 0) == len(job_ids)

    await wait_until(all_finished, timeout=60, interval=0.1, what="every job to finish")
    await assert_each_job_applied_once(runtime, job_ids)
    assert len(await succeeding_workers(runtime)) >= 2, "the worker processes did not actually compete"
    assert stop_all(processes) == [0, 0, 0], [process.log() for process in processes]
