"""Webhooks fixtures: the API and a worker sharing one database, a receiver on loopback, a clock
the test moves, and a fake DNS resolver (no lookups leave the machine)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from seawall.app import create_app
from seawall.config import Settings
from seawall.jobs.worker import Worker
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.config import WebhookSettings
from seawall.webhooks.gateway import WebhookGateway, build_gateway

SCHEDULE_SCALE = 0.0005  # the ~75.6 h schedule in ~136 s of (fake) time: timestamps stay verifiable


class FakeResolver:
    """Host name → addresses; tests change the answers to play DNS changes."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError(f"{host} does not resolve")
        return self.answers[host]


@pytest.fixture
def fake_clock() -> FakeClock:
    # Starts at the real time: the receiver checks webhook-timestamp against its own clock.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def webhook_settings() -> WebhookSettings:
    return WebhookSettings(allow_private=True, schedule_scale=SCHEDULE_SCALE, schedule_jitter=0.0,
                           throttle_seconds=60.0, timeout_seconds=5.0)


def install_gateway(runtime: Runtime, gateway: WebhookGateway) -> None:
    setattr(runtime, "webhooks", gateway)  # noqa: B010  (until Runtime builds it)


@pytest.fixture
async def worker_runtime(runtime: Runtime, webhook_settings: WebhookSettings,
                         resolver: FakeResolver) -> AsyncIterator[Runtime]:
    gateway = build_gateway(webhook_settings, resolver=resolver)
    install_gateway(runtime, gateway)
    try:
        yield runtime
    finally:
        await gateway.aclose()


@pytest.fixture
async def app(settings: Settings, webhook_settings: WebhookSettings, resolver: FakeResolver,
              worker_runtime: Runtime, fake_clock: FakeClock) -> AsyncIterator[FastAPI]:
    """The API in process, on the worker's clock, with the test's webhook gateway."""
    app = create_app(settings, run_worker=False, clock=fake_clock)
    async with app.router.lifespan_context(app):
        gateway = build_gateway(webhook_settings, resolver=resolver)
        install_gateway(app.state.runtime, gateway)
        try:
            yield app
        finally:
            await gateway.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Overrides the root `client`: the same app, with the webhooks routes and test gateway."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://seawall.test") as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiverServer]:
    async with WebhookReceiverServer() as server:
        yield server


@pytest.fixture
def run_jobs(worker_runtime: Runtime, fake_clock: FakeClock) -> Callable[[], Awaitable[None]]:
    """Run every due job to completion, on `fake_clock`."""

    async def run() -> None:
        worker = Worker(database=worker_runtime.database, settings=worker_runtime.settings, clock=fake_clock,
                        runtime=worker_runtime)
        await worker.run_until_idle()

    return run
