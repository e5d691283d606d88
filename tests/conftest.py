"""Shared fixtures: an isolated embedded Seawall per test (its own var dir and SQLite file)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from seawall.app import create_app
from seawall.config import Settings
from seawall.jobs import load_job_modules
from seawall.runtime import Runtime
from tests.support.server import ServerFactory

ADMIN_KEY = "test-admin-key-0123456789"


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def settings(var_dir: Path) -> Settings:
    load_job_modules(["tests.support.effects"])
    return Settings(
        var_dir=var_dir,
        admin_api_key=ADMIN_KEY,
        job_lease_seconds=2.0,
        job_poll_interval_seconds=0.05,
        job_backoff_base_seconds=0.05,
        job_backoff_cap_seconds=0.2,
        job_drain_timeout_seconds=2.0,
        job_modules="tests.support.effects",
        log_level="WARNING",
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.build(settings)
    await runtime.database.migrate()
    from tests.support.effects import create_effects_table

    await create_effects_table(runtime.database)
    try:
        yield runtime
    finally:
        await runtime.aclose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API in process (no worker), with its lifespan run."""
    app = create_app(settings, run_worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seawall.test") as http:
            yield http


@pytest.fixture
def servers(var_dir: Path) -> Iterator[ServerFactory]:
    """Real `seawall` processes on loopback; every one is killed at the end of the test."""
    factory = ServerFactory(var_dir=var_dir, admin_key=ADMIN_KEY)
    try:
        yield factory
    finally:
        factory.close()
