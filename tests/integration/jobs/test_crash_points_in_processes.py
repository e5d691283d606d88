"""Promises 1 and 2 at the worst instants, in real processes: a `seawall worker` armed with
`SEAWALL_CRASH_POINTS=<point>=1` dies (SIGKILL to itself) exactly there on its first job; a clean
worker started after it must finish the job with its effect committed exactly once.

- `jobs.before_handler` (claimed and leased, handler not run): nothing committed; after the lease
  expires the clean worker runs it (attempt 2).
- `jobs.after_handler` (the handler wrote its effect, the outcome is not recorded): the effect rolled
  back with the process; the clean worker runs it again and its effect is the only one.
- `jobs.after_commit` (the outcome committed, the broker message not acked): the job is done, once;
  on RabbitMQ the message comes back to the queue and the clean worker skips it instead of running
  the job a second time; on the table transport there is nothing left to run.

Effects are rows of `test_effects` written in the handler's session (`tests.support.effects`).
"""

from __future__ import annotations

import signal

import aio_pika
import pytest

from seawall.config import Settings, reveal
from seawall.jobs.transport import topology
from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    attempt_history,
    enqueue_effect,
    pid_of_worker_id,
    require_job,
    start_worker,
    wait_for_log,
    wait_for_status,
    wait_until,
)
from tests.support.effects import effects_of
from tests.support.server import SeawallProcess, ServerFactory

SHORT_LEASE = {"SEAWALL_JOB_LEASE_SECONDS": "2"}


def armed(point: str) -> dict[str, str]:
    return {**SHORT_LEASE, "SEAWALL_CRASH_POINTS": f"{point}=1", "SEAWALL_CRASH_SEED": "14"}


async def wait_for_death(process: SeawallProcess) -> None:
    async def died() -> bool:
        return process.process.poll() is not None

    await wait_until(died, what=f"the armed {process.role} to die at its crash point")
    assert process.process.returncode == -signal.SIGKILL, (process.process.returncode, process.log())


async def messages_ready(settings: Settings) -> int:
    """Messages ready (not delivered to anyone) in the test's `default` work queue."""
    url = reveal(settings.broker_url)
    assert url is not None
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.queue_name(settings, "default"), passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def start_armed(servers: ServerFactory, runtime: Runtime, point: str) -> tuple[SeawallProcess, int]:
    """An armed worker and the job it will die on (enqueued once the worker is consuming, so on the
    broker the job reaches it as a delivery, not through the table)."""
    worker = start_worker(servers, env=armed(point))
    if runtime.settings.broker_url:
        await wait_for_log(worker, "jobs.broker_connected")
    job = await enqueue_effect(runtime.database)
    await wait_for_death(worker)
    return worker, job.id


@pytest.mark.backends("sqlite", "full")
@pytest.mark.parametrize("point", ["jobs.before_handler", "jobs.after_handler"])
async def test_a_worker_killed_before_recording_leaves_no_effect_and_the_job_runs_once_more(
    point: str, runtime: Runtime, servers: ServerFactory
) -> None:
    crashed, job_id = await start_armed(servers, runtime, point)

    # The instant of death: leased to the dead worker, nothing committed (after_handler: the handler's
    # effect was written in its transaction, which died with the process).
    orphaned = await require_job(runtime.database, job_id)
    assert (orphaned.status, orphaned.attempts) == ("running", 1)
    assert pid_of_worker_id(orphaned.locked_by) == crashed.process.pid
    assert await effects_of(runtime.database, job_id) == []

    clean = start_worker(servers, env=SHORT_LEASE)
    finished = await wait_for_status(runtime.database, job_id, "succeeded", "dead")

    assert finished.status == "succeeded"
    effects = await effects_of(runtime.database, job_id)
    assert [(e.attempt, e.worker_pid) for e in effects] == [(2, clean.process.pid)]
    history = await attempt_history(runtime.database, job_id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "lease_expired"), (2, "succeeded")]
    assert clean.stop() == 0, clean.log()


async def test_a_worker_killed_between_commit_and_ack_has_done_the_job_once_and_it_never_runs_again(
    runtime: Runtime, servers: ServerFactory
) -> None:
    crashed, job_id = await start_armed(servers, runtime, "jobs.after_commit")

    # The instant of death: the outcome and the effect committed; on the broker, the message unacked.
    done = await require_job(runtime.database, job_id)
    assert done.status == "succeeded"
    effects = await effects_of(runtime.database, job_id)
    assert [(e.attempt, e.worker_pid) for e in effects] == [(1, crashed.process.pid)]
    broker = runtime.settings.broker_url is not None
    if broker:  # the broker took the unacked message back when the connection died
        async def requeued() -> bool:
            return await messages_ready(runtime.settings) == 1

        await wait_until(requeued, what="the unacked message to be back in the queue")

    clean = start_worker(servers, env=SHORT_LEASE)
    if broker:
        text = await wait_for_log(clean, "job.delivery_skipped")
        assert f'"job_id": {job_id}' in text and '"redelivered": true' in text, text
        assert await messages_ready(runtime.settings) == 0
    else:
        await wait_for_log(clean, "worker.started")

    assert await effects_of(runtime.database, job_id) == effects
    history = await attempt_history(runtime.database, job_id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "succeeded")]
    assert "job.succeeded" not in clean.log()
    assert clean.stop() == 0, clean.log()
