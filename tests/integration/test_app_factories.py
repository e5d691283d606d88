"""The uvicorn factories build the app from `SEAWALL_*` variables; `serve` in more than one process
without Redis does not cache reads in process (another process's writes could not invalidate it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from seawall.app import create_api_app, create_serve_app
from seawall.runtime import Runtime


async def started_runtime_cache_is_active(app: FastAPI) -> bool:
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        return runtime.cache.active


@pytest.fixture
def embedded_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SEAWALL_DATABASE_URL", "SEAWALL_REDIS_URL", "SEAWALL_BROKER_URL", "SEAWALL_WEB_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEAWALL_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SEAWALL_LOG_LEVEL", "WARNING")


@pytest.mark.usefixtures("embedded_environment")
async def test_one_serve_process_caches_reads_in_process() -> None:
    assert await started_runtime_cache_is_active(create_serve_app())


@pytest.mark.usefixtures("embedded_environment")
async def test_several_serve_processes_without_redis_do_not_cache_in_process(monkeypatch: pytest.MonkeyPatch
                                                                             ) -> None:
    monkeypatch.setenv("SEAWALL_WEB_WORKERS", "2")
    assert not await started_runtime_cache_is_active(create_serve_app())


@pytest.mark.usefixtures("embedded_environment")
async def test_an_api_process_without_redis_does_not_cache_in_process() -> None:
    assert not await started_runtime_cache_is_active(create_api_app())
