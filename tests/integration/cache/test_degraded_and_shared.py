"""The cache across processes (two Runtimes sharing Redis on `full`) and without Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from seawall.app import create_app
from seawall.config import Settings
from seawall.runtime import Runtime
from tests.integration.accounts.wire import bearer, new_email, sign_up, token_for
from tests.support.server import free_port


@pytest.fixture
async def two_runtimes(settings: Settings, runtime: Runtime, backend: str) -> AsyncIterator[tuple[Runtime, Runtime]]:
    if backend != "full":
        pytest.skip("sharing across processes needs Redis (the `full` backend)")
    first, second = Runtime.build(settings), Runtime.build(settings)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def test_concurrent_misses_in_two_processes_load_once(two_runtimes: tuple[Runtime, Runtime]) -> None:
    loads = 0

    async def loader() -> dict[str, Any]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.2)  # a slow query: every caller below arrives while it runs
        return {"value": 42}

    key = ("test", "stampede")
    results = await asyncio.gather(*(runtime.cache.get_or_load(key, loader)
                                     for runtime in two_runtimes for _ in range(10)))
    assert results == [{"value": 42}] * 20
    assert loads == 1


async def test_an_invalidation_in_one_process_is_seen_by_the_other(two_runtimes: tuple[Runtime, Runtime]) -> None:
    first, second = two_runtimes
    version = 1

    async def loader() -> dict[str, int]:
        return {"version": version}

    key = ("test", "shared")
    assert await first.cache.get_or_load(key, loader) == {"version": 1}
    version = 2
    assert await second.cache.get_or_load(key, loader) == {"version": 1}  # a hit in Redis
    await first.cache.invalidate([key])
    assert await second.cache.get_or_load(key, loader) == {"version": 2}


async def test_a_load_racing_an_invalidation_is_not_stored(two_runtimes: tuple[Runtime, Runtime]) -> None:
    """A reader that loaded the old row before a writer's invalidation must not cache it afterwards."""
    first, second = two_runtimes
    key = ("test", "race")
    loaded = asyncio.Event()
    invalidated = asyncio.Event()

    async def slow_old_row() -> dict[str, str]:
        loaded.set()
        await invalidated.wait()
        return {"row": "old"}

    async def new_row() -> dict[str, str]:
        return {"row": "new"}

    reader = asyncio.create_task(first.cache.get_or_load(key, slow_old_row))
    await loaded.wait()
    await second.cache.invalidate([key])
    invalidated.set()
    assert await reader == {"row": "old"}  # its own answer is what it read
    assert await second.cache.get_or_load(key, new_row) == {"row": "new"}  # but it was not cached


async def test_with_redis_down_reads_bypass_the_cache(settings: Settings, runtime: Runtime) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_app(down, run_worker=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seawall.test") as http:
            email = new_email("bypass")
            assert (await sign_up(http, email)).status_code == 201
            token = await token_for(http, email)
            for _ in range(3):
                response = await http.get("/v1/me", headers=bearer(token))
                assert response.status_code == 200, response.text
                assert response.json()["email"] == email
            stats = app.state.runtime.cache.stats
            assert stats.bypassed == 3 and stats.hits == 0
