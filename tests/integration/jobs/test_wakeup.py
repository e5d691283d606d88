"""PostgreSQL wake-ups: a committed enqueue wakes an idle worker through LISTEN/NOTIFY long before its
next poll; a rolled-back enqueue notifies nobody."""

from __future__ import annotations

import asyncio

import pytest

from seawall.jobs import enqueue
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


async def test_committed_enqueue_wakes_an_idle_worker(postgres_runtime: Runtime) -> None:
    runtime = postgres_runtime
    settings = runtime.settings.model_copy(update={"job_poll_interval_seconds": POLL_SECONDS})
    worker = in_process_worker(runtime.database, settings)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.0)  # the worker has polled once, found nothing, and is listening
        async with runtime.database.transaction() as session:
            rolled_back = await enqueue(session, "tests.effect", {"label": "never"})
            await session.rollback()
        async with runtime.database.transaction() as session:
            job = await enqueue(session, "tests.effect", {"label": "woken"})
        done = await wait_for_status(runtime.database, job.id, "succeeded", timeout=DEADLINE_SECONDS)
        assert done.status == "succeeded"
        assert await count_effects(runtime.database) == 1
        assert rolled_back.id != job.id
    finally:
        worker.stop()
        await task
