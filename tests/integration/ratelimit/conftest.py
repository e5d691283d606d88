"""Rate-limit fixtures: apps in process built with limit overrides, each seen from a chosen client IP."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seawall.app import create_app
from seawall.config import Settings
from seawall.runtime import Runtime

MakeApp = Callable[..., FastAPI]


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def apps(settings: Settings, runtime: Runtime) -> AsyncIterator[Callable[..., Any]]:
    """`await apps(rate_limit_per_ip="3/minute")`: a started app with these settings overrides."""
    async with AsyncExitStack() as stack:
        async def make(**overrides: Any) -> FastAPI:
            app = create_app(settings.model_copy(update=overrides), run_worker=False)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield make


def client_of(app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)),
                             base_url="http://seawall.test")
