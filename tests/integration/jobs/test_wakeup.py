"""Wake-ups: a committed enqueue wakes an idle worker long before its next poll, in the same process
(every backend) and across processes through LISTEN/NOTIFY (PostgreSQL); a rolled-back enqueue
wakes nobody."""

from __future__ import annotations

import asyncio

import pytest

from seawall.jobs import enqueue, wakeup
from seawall.runtime import Runtime
from tests.integration.jobs.harness import in_process_worker, wait_for_status
from tests.support.effects import count_effects

POLL_SECONDS = 120.0  # far longer than the deadline below: only a notification can wake the worker in time
DEADLINE_SECONDS = 30.0


@pytest.fixture
def postgres_runtime(runtime: Runtime, backend: str) -> Runtime:
    if backend != "postgres":
        pytest.skip("LISTEN/NOTIFY wake-ups are PostgreSQL's; SQLite workers poll")
    return runtime


async def test_committed_enqueue_wakes_an_idle_worker_in_this_process(runtime: Runtime) -> None:
    await _committed_enqueue_wakes_an_idle_worker(runtime)


async def test_committed_enqueue_wakes_an_idle_worker_through_notify(
    postgres_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _committed_enqueue_wakes_an_idle_worker(postgres_runtime, monkeypatch=monkeypatch)


async def _committed_enqueue_wakes_an_idle_worker(
    runtime: Runtime, *, monkeypatch: pytest.MonkeyPatch | None = None
) -> None:
    """With `monkeypatch`, the worker is hidden from in-process wake-ups: only NOTIFY reaches it."""
    settings = runtime.settings.model_copy(update={"job_poll_interval_seconds": POLL_SECONDS})
    worker = in_process_worker(runtime.database, settings)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.0)  # the worker has polled once, found nothing, and is listening
        if monkeypatch is not None:
            monkeypatch.setattr(wakeup, "_local_workers", {})
        async with runtime.database.transaction() as session:
            await enqueue(session, "tests.effect", {"label": "never"})
            await session.rollback()
        async with runtime.database.transaction() as session:
            job = await enqueue(session, "tests.effect", {"label": "woken"})
        done = await wait_for_status(runtime.database, job.id, "succeeded", timeout=DEADLINE_SECONDS)
        assert done.status == "succeeded"
        assert await count_effects(runtime.database) == 1
    finally:
        worker.stop()
        await task
