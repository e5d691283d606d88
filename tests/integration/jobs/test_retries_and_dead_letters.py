"""Promises: failures retry with backoff until they succeed; attempts exhausted or a permanent error
park the job in the dead-letter queue with its error and history; a replay (library call, admin
API or CLI) runs it again to success, and its effect is still applied once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from seawall.jobs import JobContext, JobRegistry, dead_letters, enqueue
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.integration.jobs.harness import (
    attempt_history,
    enqueue_effect,
    in_process_worker,
    require_job,
    run_cli_async,
    run_until_finished,
    run_worker_until,
)
from tests.support.effects import effects_of, test_effects


async def test_failing_job_retries_then_succeeds_with_one_effect(runtime: Runtime) -> None:
    job = await enqueue_effect(runtime.database, {"fail_times": 2})

    await run_until_finished(runtime.database, runtime.settings, job.id)

    finished = await require_job(runtime.database, job.id)
    assert (finished.status, finished.attempts) == ("succeeded", 3)
    assert "told to fail on attempt 2" in (finished.last_error or "")
    history = await attempt_history(runtime.database, job.id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "retry"), (2, "retry"), (3, "succeeded")]
    assert "told to fail on attempt 1" in (history[0].error or "")
    assert [e.attempt for e in await effects_of(runtime.database, job.id)] == [3]


async def test_retry_is_scheduled_after_a_jittered_backoff(runtime: Runtime) -> None:
    job = await enqueue_effect(runtime.database, {"fail_times": 1})
    clock = FakeClock(datetime.now(UTC))
    worker = in_process_worker(runtime.database, runtime.settings, clock=clock, rng=random.Random(1))

    await worker.run_until_idle()  # attempt 1 fails; the retry is not due yet on the frozen clock

    waiting = await require_job(runtime.database, job.id)
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    ceiling = runtime.settings.job_backoff_base_seconds  # the ceiling after attempt 1
    assert clock.now() < waiting.next_run_at <= clock.now() + timedelta(seconds=ceiling)
    assert await effects_of(runtime.database, job.id) == []

    clock.advance(ceiling)
    await worker.run_until_idle()
    assert (await require_job(runtime.database, job.id)).status == "succeeded"
    assert len(await effects_of(runtime.database, job.id)) == 1


async def test_retry_after_hint_delays_the_retry_at_least_that_long(runtime: Runtime) -> None:
    hint = 0.15  # above the 0.05 s ceiling of attempt 1, below the 0.2 s cap
    job = await enqueue_effect(runtime.database, {"fail_times": 1, "retry_after": hint})
    clock = FakeClock(datetime.now(UTC))
    worker = in_process_worker(runtime.database, runtime.settings, clock=clock)

    await worker.run_until_idle()

    waiting = await require_job(runtime.database, job.id)
    assert waiting.status == "queued"
    assert waiting.next_run_at >= clock.now() + timedelta(seconds=hint)
    clock.advance(runtime.settings.job_backoff_cap_seconds)
    await worker.run_until_idle()
    assert (await require_job(runtime.database, job.id)).status == "succeeded"


async def test_permanent_error_goes_dead_after_one_attempt(runtime: Runtime) -> None:
    job = await enqueue_effect(runtime.database, {"permanent": True})

    await in_process_worker(runtime.database, runtime.settings).run_until_idle()

    dead = await require_job(runtime.database, job.id)
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert "told to fail permanently" in (dead.last_error or "")
    assert dead.finished_at is not None and dead.lease_token is None
    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["dead"]
    assert await effects_of(runtime.database, job.id) == []


async def test_handler_that_overruns_its_timeout_is_cut_off_and_counted_as_a_failure(runtime: Runtime) -> None:
    slow_kinds = JobRegistry()

    @slow_kinds.handler("tests.overrun", queue="default", timeout_seconds=0.1, max_attempts=2)
    async def overrun(ctx: JobContext) -> None:
        await asyncio.sleep(3600)
        await ctx.session.execute(test_effects.insert().values(job_id=ctx.job.id, attempt=1, worker_pid=0))

    async with runtime.database.transaction() as session:
        job = await enqueue(session, "tests.overrun", {}, registry=slow_kinds)
    worker = in_process_worker(runtime.database, runtime.settings, registry=slow_kinds)

    async def finished() -> bool:
        current = await require_job(runtime.database, job.id)
        return current.status in ("succeeded", "dead")

    await run_worker_until(worker, finished)

    dead = await require_job(runtime.database, job.id)
    assert (dead.status, dead.attempts) == ("dead", 2)
    assert "timed out" in (dead.last_error or "")
    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["retry", "dead"]
    assert await effects_of(runtime.database, job.id) == []


async def replay_with_library(runtime: Runtime, job_id: int, _client: httpx.AsyncClient) -> None:
    async with runtime.database.transaction() as session:
        replayed = await dead_letters.replay(session, job_id, clock=runtime.clock)
    assert (replayed.status, replayed.attempts) == ("queued", 0)


async def replay_with_admin_api(runtime: Runtime, job_id: int, client: httpx.AsyncClient) -> None:
    response = await client.post(f"/admin/jobs/{job_id}/replay",
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued"


async def replay_with_cli(runtime: Runtime, job_id: int, _client: httpx.AsyncClient) -> None:
    result = await run_cli_async(runtime.settings, "dlq", "replay", str(job_id))
    assert result.returncode == 0, result.stderr
    assert f"job {job_id}" in result.stdout


Replay = Callable[[Runtime, int, httpx.AsyncClient], Awaitable[None]]


@pytest.mark.parametrize("replay", [replay_with_library, replay_with_admin_api, replay_with_cli],
                         ids=["library", "admin-api", "cli"])
async def test_exhausted_job_is_dead_with_its_history_and_replay_runs_it_once(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, replay: Replay
) -> None:
    provider_down = tmp_path / "provider-down"
    provider_down.touch()
    job = await enqueue_effect(runtime.database, {"fail_while_exists": str(provider_down)}, max_attempts=3)

    await run_until_finished(runtime.database, runtime.settings, job.id)

    dead = await require_job(runtime.database, job.id)
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert "told to fail while" in (dead.last_error or "")
    history = await attempt_history(runtime.database, job.id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "retry"), (2, "retry"), (3, "dead")]
    assert all("told to fail while" in (a.error or "") for a in history)
    assert await effects_of(runtime.database, job.id) == []

    provider_down.unlink()  # the operator fixed the cause
    await replay(runtime, job.id, client)
    await run_until_finished(runtime.database, runtime.settings, job.id)

    replayed = await require_job(runtime.database, job.id)
    assert (replayed.status, replayed.attempts) == ("succeeded", 1)
    assert len(await effects_of(runtime.database, job.id)) == 1
    history = await attempt_history(runtime.database, job.id)
    assert [a.outcome for a in history] == ["retry", "retry", "dead", "succeeded"]


async def test_only_dead_jobs_can_be_replayed(runtime: Runtime, client: httpx.AsyncClient) -> None:
    job = await enqueue_effect(runtime.database)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    queued = await client.post(f"/admin/jobs/{job.id}/replay", headers=admin)
    assert queued.status_code == 409
    assert queued.json()["error"]["type"] == "conflict"

    missing = await client.post("/admin/jobs/999999/replay", headers=admin)
    assert missing.status_code == 404

    await in_process_worker(runtime.database, runtime.settings).run_until_idle()
    succeeded = await client.post(f"/admin/jobs/{job.id}/replay", headers=admin)
    assert succeeded.status_code == 409
    assert len(await effects_of(runtime.database, job.id)) == 1
