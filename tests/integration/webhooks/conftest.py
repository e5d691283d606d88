"""Webhooks parameters for the shared fixtures: the API and the worker (`run_jobs`) share one
database and `fake_clock`, and both deliver through a gateway on a fake DNS resolver (no lookups
leave the machine); receivers run on loopback (`receiver`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from seawall.config import WebhookSettings
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.webhooks.gateway import WebhookGateway, build_gateway
from tests.support.fakes import FakeResolver

SCHEDULE_SCALE = 0.0005  # the ~75.6 h schedule in ~136 s of (fake) time: timestamps stay verifiable


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
def app_clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


@pytest.fixture
async def app(app: FastAPI, worker_runtime: Runtime, webhook_settings: WebhookSettings,
              resolver: FakeResolver) -> AsyncIterator[FastAPI]:
    """The root `app` (on `fake_clock`), delivering through its own gateway on `resolver`."""
    gateway = build_gateway(webhook_settings, resolver=resolver)
    install_gateway(app.state.runtime, gateway)
    try:
        yield app
    finally:
        await gateway.aclose()
