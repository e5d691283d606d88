"""Fixtures for running jobs in the test's own process: `fake_clock`, `worker_runtime`, `run_jobs`.

Contract:
- `fake_clock` starts at the real time (UTC), so rows written on it are due for a worker on it and
  timestamps stay acceptable to receivers that check them against their own clock; tests move it
  with `advance(seconds)`, never by sleeping.
- `worker_runtime` is the Runtime the one-shot worker runs on: the test's own `runtime`. A package
  that installs test doubles on it (webhooks: a gateway with a fake resolver) overrides it.
- `await run_jobs()` runs every due job, on all queues, to completion on `fake_clock`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from seawall.jobs.worker import Worker
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime

RunJobs = Callable[[], Awaitable[None]]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def worker_runtime(runtime: Runtime) -> Runtime:
    return runtime


@pytest.fixture
def run_jobs(worker_runtime: Runtime, fake_clock: FakeClock) -> RunJobs:
    async def run() -> None:
        worker = Worker(database=worker_runtime.database, settings=worker_runtime.settings, clock=fake_clock,
                        runtime=worker_runtime)
        await worker.run_until_idle()

    return run
