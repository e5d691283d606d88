"""Accounts fixtures: the in-process API on a clock the test moves, and a one-shot worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest

from seawall.app import create_app
from seawall.config import Settings
from seawall.jobs.worker import Worker
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime


@pytest.fixture
def fake_clock() -> FakeClock:
    # Starts at the real time, so rows written with it are due for a worker on the same clock.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def clocked_client(settings: Settings, fake_clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but the app reads time from `fake_clock`."""
    app = create_app(settings, run_worker=False, clock=fake_clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seawall.test") as http:
            yield http


@pytest.fixture
def run_jobs(runtime: Runtime, fake_clock: FakeClock) -> Callable[[], Awaitable[None]]:
    """Run every due job to completion, on `fake_clock`."""

    async def run() -> None:
        worker = Worker(database=runtime.database, settings=runtime.settings, clock=fake_clock, runtime=runtime)
        await worker.run_until_idle()

    return run
