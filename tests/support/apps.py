"""Fixtures for the API in process: `started_app` (a factory), `app` and `client`.

Contract:
- `await started_app(clock=..., in_process_cache=..., **settings_overrides)` builds the app on the
  test's `settings` (with those overrides), runs its lifespan and returns it; every app it started
  is shut down at the end of the test. No worker runs inside it (`run_worker=False`).
- `app` is one such app on `app_clock` (None: the real clock). A package whose tests move time
  overrides `app_clock` to return `fake_clock`; one that installs test doubles on the app's Runtime
  overrides `app` by extending it.
- `client` talks to `app` through ASGI (no socket); `asgi_client(app, ip=...)` is the same for any app,
  seen from the given client address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI

from seawall.app import create_app
from seawall.config import Settings
from seawall.kit.clock import Clock, FakeClock
from seawall.runtime import Runtime

BASE_URL = "http://seawall.test"


class StartApp(Protocol):
    def __call__(self, *, clock: Clock | None = None, in_process_cache: bool | None = None,
                 **settings_overrides: Any) -> Awaitable[FastAPI]: ...


def asgi_client(app: FastAPI, ip: str | None = None) -> httpx.AsyncClient:
    """An HTTP client for `app` in process; `ip` is the client address the app sees (default: ASGI's)."""
    transport = httpx.ASGITransport(app=app) if ip is None else httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@pytest.fixture
async def started_app(settings: Settings, runtime: Runtime) -> AsyncIterator[StartApp]:
    """Depends on `runtime` so the database is migrated before any app starts."""
    async with AsyncExitStack() as stack:
        async def start(*, clock: Clock | None = None, in_process_cache: bool | None = None,
                        **settings_overrides: Any) -> FastAPI:
            app_settings = settings.model_copy(update=settings_overrides) if settings_overrides else settings
            app = create_app(app_settings, run_worker=False, clock=clock, in_process_cache=in_process_cache)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield start


@pytest.fixture
def app_clock() -> Clock | None:
    """The clock `app` reads time from; None is the real one."""
    return None


@pytest.fixture
async def app(started_app: StartApp, app_clock: Clock | None) -> FastAPI:
    return await started_app(clock=app_clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API in process (no worker), with its lifespan run, on a migrated database."""
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def clocked_client(started_app: StartApp, fake_clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but on another app that reads time from `fake_clock`."""
    async with asgi_client(await started_app(clock=fake_clock)) as http:
        yield http

