"""Cache fixtures: the API in process *with* its read cache (Redis on `full`, in process otherwise),
a fake Stripe for the charge jobs, and a one-shot payments worker on the test's own Runtime (which
stands for a worker process: it shares the database and, on `full`, Redis — not the app's objects)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seawall.jobs.worker import Worker
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.support.apps import StartApp, asgi_client


@pytest.fixture
def settings_overrides(sandbox: SandboxServer) -> dict[str, Any]:
    return {"stripe_api_base": sandbox.base_url, "cache_ttl_seconds": 300.0}


@dataclass
class CachedApi:
    http: httpx.AsyncClient
    app: FastAPI

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest.fixture
async def api(started_app: StartApp) -> AsyncIterator[CachedApi]:
    app = await started_app(in_process_cache=True)
    async with asgi_client(app) as http:
        yield CachedApi(http=http, app=app)


@pytest.fixture
def run_payment_jobs(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        worker = Worker(database=runtime.database, settings=runtime.settings, runtime=runtime, queues=["payments"])
        await worker.run_until_idle()

    return run
