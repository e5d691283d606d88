"""Promise 8: queue depth per state and the age of the oldest due job are exported at scrape time, from
one query cached between scrapes, on SQLite and PostgreSQL; a database that cannot answer leaves
those series out and the scrape still answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from seawall.db import Database
from seawall.jobs.models import Job, JobStatus
from seawall.kit.clock import FakeClock
from seawall.observability.exposition import BuildInfo
from seawall.observability.queue_stats import QueueStats
from seawall.runtime import Runtime
from tests.support.metrics import registry_text, sample, samples

pytestmark = pytest.mark.backends("sqlite", "postgres")


async def add_jobs(runtime: Runtime, clock: FakeClock, *rows: tuple[str, JobStatus, float]) -> None:
    """(queue, status, next_run_at in seconds from now) each."""
    now = clock.now()
    async with runtime.database.transaction() as session:
        for queue, status, offset in rows:
            session.add(Job(kind="tests.noop", queue=queue, payload={}, status=status, attempts=0, max_attempts=3,
                            next_run_at=now + timedelta(seconds=offset), created_at=now, updated_at=now))


def render(stats: QueueStats) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(stats)
    return registry_text(registry)


async def test_queue_depth_by_state_and_the_oldest_due_job_age(runtime: Runtime) -> None:
    clock = FakeClock()
    await add_jobs(runtime, clock,
                   ("payments", JobStatus.QUEUED, -90), ("payments", JobStatus.QUEUED, -5),
                   ("payments", JobStatus.QUEUED, 60), ("payments", JobStatus.RUNNING, 0),
                   ("payments", JobStatus.DEAD, -3600), ("payments", JobStatus.SUCCEEDED, -10),
                   ("webhooks", JobStatus.QUEUED, 30))
    stats = QueueStats(runtime.database, queues=["payments", "webhooks", "notifications"], clock=clock)
    await stats.refresh()
    text = render(stats)

    def jobs(queue: str, state: str) -> float:
        return sample(text, "seawall_queue_jobs", queue=queue, state=state)

    assert [jobs("payments", state) for state in ("due", "scheduled", "running", "dead")] == [2, 1, 1, 1]
    assert [jobs("webhooks", state) for state in ("due", "scheduled", "running", "dead")] == [0, 1, 0, 0]
    assert sample(text, "seawall_queue_oldest_due_age_seconds", queue="payments") == pytest.approx(90, abs=0.01)
    assert sample(text, "seawall_queue_oldest_due_age_seconds", queue="webhooks") == 0
    # a configured queue with nothing in it is there, with zeros
    assert samples(text)[("seawall_queue_jobs", frozenset({("queue", "notifications"), ("state", "due")}))] == 0


async def test_one_query_serves_the_scrapes_within_its_age(runtime: Runtime) -> None:
    clock, now = FakeClock(), [0.0]
    stats = QueueStats(runtime.database, max_age_seconds=5, clock=clock, timer=lambda: now[0])
    await stats.refresh()
    await add_jobs(runtime, clock, ("default", JobStatus.QUEUED, -1))
    now[0] = 4.9
    await stats.refresh()
    assert sample(render(stats), "seawall_queue_jobs", queue="default", state="due") == 0  # cached
    now[0] = 5.0
    await stats.refresh()
    assert sample(render(stats), "seawall_queue_jobs", queue="default", state="due") == 1


async def test_a_database_that_cannot_answer_leaves_the_series_out(runtime: Runtime) -> None:
    down = Database(runtime.settings.model_copy(update={  # nothing listens on port 1: refused at once
        "database_url": SecretStr("postgresql+asyncpg://seawall:unused@127.0.0.1:1/seawall")}))
    stats = QueueStats(down, queues=["payments"], max_age_seconds=0)
    try:
        for _ in range(2):
            await stats.refresh()
            registry = CollectorRegistry(auto_describe=False)
            registry.register(stats)
            registry.register(BuildInfo())
            text = registry_text(registry)
            assert "seawall_queue_jobs" not in text
            assert sample(text, "seawall_build_info") == 1  # the rest of the scrape answers
    finally:
        await down.dispose()
