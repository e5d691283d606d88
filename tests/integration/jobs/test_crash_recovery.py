"""Promises: a job survives its worker being killed (SIGKILL) or frozen (SIGSTOP), and its effect
still commits exactly once: the lease expires, another worker runs it, and the lease token fences
off anything the old worker tries afterwards."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from seawall.jobs import Job
from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    attempt_history,
    enqueue_effect,
    in_process_worker,
    load_job,
    pause_outside_transaction,
    pid_of_worker_id,
    require_job,
    run_worker_until,
    start_worker,
    wait_for_log,
    wait_for_status,
    wait_until,
)
from tests.support.effects import effects_of
from tests.support.server import SeawallProcess, ServerFactory

SHORT_LEASE = {"SEAWALL_JOB_LEASE_SECONDS": "2"}


async def wait_until_running_in(runtime: Runtime, job_id: int, process: SeawallProcess) -> Job:
    async def check() -> Job | None:
        if process.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{process.log()}")
        job = await load_job(runtime.database, job_id)
        if job is not None and job.status == "running" and pid_of_worker_id(job.locked_by) == process.process.pid:
            return job
        return None

    return await wait_until(check, what=f"job {job_id} to run in pid {process.process.pid}")


async def test_job_of_a_sigkilled_worker_runs_again_after_its_lease_and_applies_once(
    runtime: Runtime, servers: ServerFactory
) -> None:
    job = await enqueue_effect(runtime.database, {"sleep_on_attempts": [1], "sleep_seconds": 120})
    first = start_worker(servers, env=SHORT_LEASE)
    await wait_until_running_in(runtime, job.id, first)

    first.kill()  # SIGKILL: no drain, no release, no outcome recorded

    orphaned = await require_job(runtime.database, job.id)
    assert orphaned.status == "running" and orphaned.attempts == 1
    assert await effects_of(runtime.database, job.id) == []

    second = start_worker(servers, env=SHORT_LEASE)
    finished = await wait_for_status(runtime.database, job.id, "succeeded", "dead")

    assert finished.status == "succeeded"
    effects = await effects_of(runtime.database, job.id)
    assert [(e.attempt, e.worker_pid) for e in effects] == [(2, second.process.pid)]
    history = await attempt_history(runtime.database, job.id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "lease_expired"), (2, "succeeded")]
    assert pid_of_worker_id(history[0].worker_id) == first.process.pid
    assert pid_of_worker_id(history[1].worker_id) == second.process.pid
    assert second.stop() == 0, second.log()


async def test_job_of_a_frozen_worker_is_taken_over_and_the_old_worker_is_fenced_off(
    runtime: Runtime, servers: ServerFactory, tmp_path: Path
) -> None:
    # A's handler waits on a flag file. It is removed while A is frozen, so on SIGCONT A's handler
    # goes straight on to write its effect and complete the job, long after it lost the lease.
    flag = tmp_path / "hold-attempt"
    flag.touch()
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(flag)})
    frozen = start_worker(servers, env=SHORT_LEASE)
    await wait_until_running_in(runtime, job.id, frozen)

    pause_outside_transaction(frozen, runtime.settings)
    flag.unlink()
    try:
        # Worker B claims once A's lease (no longer renewed) has expired, and finishes the job.
        takeover = in_process_worker(runtime.database, runtime.settings)

        async def succeeded() -> bool:
            current = await load_job(runtime.database, job.id)
            return current is not None and current.status == "succeeded"

        await run_worker_until(takeover, succeeded)
    finally:
        frozen.signal(signal.SIGCONT)

    # Give A every chance to act: it notices it lost the lease (at renewal or at commit).
    await wait_for_log(frozen, "job.lease_lost")  # "job.lease_lost" or "job.lease_lost_at_commit"

    finished = await require_job(runtime.database, job.id)
    assert finished.status == "succeeded"
    effects = await effects_of(runtime.database, job.id)
    assert [(e.attempt, e.worker_pid) for e in effects] == [(2, os.getpid())]
    history = await attempt_history(runtime.database, job.id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "lease_expired"), (2, "succeeded")]
    assert history[0].worker_id != takeover.worker_id
    assert pid_of_worker_id(history[0].worker_id) == frozen.process.pid
    assert history[1].worker_id == takeover.worker_id
    assert frozen.stop() == 0, frozen.log()
