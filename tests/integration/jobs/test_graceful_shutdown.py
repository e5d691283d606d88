"""Promise: shutdown drains. A stopping worker claims nothing new, lets running jobs finish within
the drain timeout, and hands back the ones that do not: queued again at once, the interrupted
attempt not counted against the job, logged as `released`, and later completed exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    attempt_history,
    enqueue_effect,
    in_process_worker,
    load_job,
    pid_of_worker_id,
    require_job,
    run_until_finished,
    start_worker,
    wait_for_status,
)
from tests.support.effects import effects_of
from tests.support.server import ServerFactory


async def assert_released_and_then_completed_once(runtime: Runtime, job_id: int, flag: Path) -> None:
    released = await require_job(runtime.database, job_id)
    assert (released.status, released.attempts, released.lease_token) == ("queued", 0, None)
    history = await attempt_history(runtime.database, job_id)
    assert [a.outcome for a in history] == ["released"]
    assert await effects_of(runtime.database, job_id) == []

    flag.unlink()
    await run_until_finished(runtime.database, runtime.settings, job_id)

    done = await require_job(runtime.database, job_id)
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert [a.outcome for a in await attempt_history(runtime.database, job_id)] == ["released", "succeeded"]
    assert len(await effects_of(runtime.database, job_id)) == 1


async def test_sigterm_hands_back_a_job_that_outlives_the_drain_timeout(
    runtime: Runtime, servers: ServerFactory, tmp_path: Path
) -> None:
    flag = tmp_path / "hold"
    flag.touch()
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(flag)})
    # A long lease: the job must come back because the worker released it, not because it expired.
    worker = start_worker(servers, env={"SEAWALL_JOB_DRAIN_TIMEOUT_SECONDS": "0.5",
                                        "SEAWALL_JOB_LEASE_SECONDS": "300"})
    running = await wait_for_status(runtime.database, job.id, "running")
    assert pid_of_worker_id(running.locked_by) == worker.process.pid

    assert worker.stop() == 0, worker.log()  # SIGTERM, then wait for a clean exit

    assert "job.released" in worker.log()
    await assert_released_and_then_completed_once(runtime, job.id, flag)


async def test_stop_hands_back_a_job_that_outlives_the_drain_timeout(runtime: Runtime, tmp_path: Path) -> None:
    flag = tmp_path / "hold"
    flag.touch()
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(flag)})
    settings = runtime.settings.model_copy(update={"job_drain_timeout_seconds": 0.2, "job_lease_seconds": 300})
    worker = in_process_worker(runtime.database, settings)
    run = asyncio.create_task(worker.run())
    await wait_for_status(runtime.database, job.id, "running")

    worker.stop()
    await run

    await assert_released_and_then_completed_once(runtime, job.id, flag)


async def test_stop_lets_a_job_finish_within_the_drain_timeout_and_claims_nothing_new(
    runtime: Runtime, tmp_path: Path
) -> None:
    flag = tmp_path / "hold"
    flag.touch()
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(flag)})
    settings = runtime.settings.model_copy(update={"job_drain_timeout_seconds": 60})
    # One slot: while the job runs, the loop has nothing to claim, so stop() lands outside a claim.
    worker = in_process_worker(runtime.database, settings, concurrency=1)
    run = asyncio.create_task(worker.run())
    await wait_for_status(runtime.database, job.id, "running")

    worker.stop()
    later = await enqueue_effect(runtime.database, {"label": "after stop"})
    flag.unlink()  # the in-flight job can now finish, well inside the drain timeout; its slot frees up
    await run

    finished = await require_job(runtime.database, job.id)
    assert (finished.status, finished.attempts) == ("succeeded", 1)
    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["succeeded"]
    assert len(await effects_of(runtime.database, job.id)) == 1
    untouched = await load_job(runtime.database, later.id)
    assert untouched is not None and (untouched.status, untouched.attempts) == ("queued", 0)
