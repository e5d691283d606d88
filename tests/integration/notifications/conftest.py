"""Notifications fixtures: the sandbox (fake Stripe and fake Twilio on one port, the SMTP sink on
another) on loopback, settings pointing every channel at it, the API and a one-shot worker on one
clock the test moves, and a webhook receiver.

The root `runtime` fixture picks up the `settings` overridden here, so the API, the worker and the
test's own transactions share one database and one sandbox. Retries are made due by moving
`fake_clock` past the backoff cap (`run_retries`), never by sleeping.
"""

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
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from seawall.sandbox.webhook_receiver import WebhookReceiverServer

RunJobs = Callable[[], Awaitable[None]]

# Longer than any backoff of `notifications.send` (cap 600 s): after this, every retry is due.
PAST_ANY_BACKOFF_SECONDS = 601.0

NOTIFICATION_SETTINGS = {
    "smtp_host": "127.0.0.1",
    "smtp_security": "none",
    "provider_connect_timeout_seconds": 2.0,
    "provider_read_timeout_seconds": 5.0,
    "provider_total_timeout_seconds": 10.0,
    # The budget has its own tests; here it must never defer a send to its cap.
    "retry_budget_capacity": 1_000_000.0,
}


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """Fake Stripe and fake Twilio on a free loopback port, and the SMTP sink on another."""
    async with SandboxServer(smtp_port=0) as server:
        yield server


@pytest.fixture
def sink(sandbox: SandboxServer) -> SmtpSink:
    assert sandbox.smtp is not None
    return sandbox.smtp


@pytest.fixture
def settings(settings: Settings, sandbox: SandboxServer, sink: SmtpSink) -> Settings:
    return settings.model_copy(update={
        **NOTIFICATION_SETTINGS,
        "smtp_port": sink.port,
        "sms_api_base": sandbox.base_url,
        "stripe_api_base": sandbox.base_url,
        "webhooks": settings.webhooks.model_copy(update={"allow_private": True}),
    })


@pytest.fixture
def fake_clock() -> FakeClock:
    # Starts at the real time: the webhook receiver checks timestamps against its own clock.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def client(settings: Settings, runtime: Runtime, fake_clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """Overrides the root `client`: the API in process, reading time from `fake_clock`."""
    app = create_app(settings, run_worker=False, clock=fake_clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seawall.test") as http:
            yield http


@pytest.fixture
def run_jobs(runtime: Runtime, fake_clock: FakeClock) -> RunJobs:
    """Run every due job (all queues) to completion, on `fake_clock`."""

    async def run() -> None:
        worker = Worker(database=runtime.database, settings=runtime.settings, clock=fake_clock, runtime=runtime)
        await worker.run_until_idle()

    return run


@pytest.fixture
def run_retries(run_jobs: RunJobs, fake_clock: FakeClock) -> RunJobs:
    """Move the clock past any backoff, then run every job that became due."""

    async def run() -> None:
        fake_clock.advance(PAST_ANY_BACKOFF_SECONDS)
        await run_jobs()

    return run


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiverServer]:
    async with WebhookReceiverServer() as server:
        yield server
