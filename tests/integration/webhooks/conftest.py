"""Webhooks parameters for the shared fixtures: the API and the worker (`run_jobs`) share one
database and `fake_clock`, and both deliver through a webhook client on a fake DNS resolver (no lookups
leave the machine); receivers run on loopback (`receiver`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from seawall.config import WebhookSettings
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.webhooks.client import WebhookClient, build_client
from tests.support.fakes import FakeResolver

SCHEDULE_SCALE = 0.0005  # the ~75.6 h schedule in ~136 s of (fake) time: timestamps stay verifiable


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def webhook_settings() -> WebhookSettings:
    return WebhookSettings(allow_private=True, schedule_scale=SCHEDULE_SCALE, schedule_jitter=0.0,
                           throttle_seconds=60.0, timeout_seconds=5.0)


def install_client(runtime: Runtime, client: WebhookClient) -> None:
    setattr(runtime, "webhooks", client)  # noqa: B010  (until Runtime builds it)


@pytest.fixture
async def worker_runtime(runtime: Runtime, webhook_settings: WebhookSettings,
                         resolver: FakeResolver) -> AsyncIterator[Runtime]:
    client = build_client(webhook_settings, resolver=resolver)
    install_client(runtime, client)
    try:
        yield runtime
    finally:
        await client.aclose()


@pytest.fixture
def app_clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


@pytest.fixture
async def app(app: FastAPI, worker_runtime: Runtime, webhook_settings: WebhookSettings,
              resolver: FakeResolver) -> AsyncIterator[FastAPI]:
    """The root `app` (on `fake_clock`), delivering through its own webhook client on `resolver`."""
    client = build_client(webhook_settings, resolver=resolver)
    install_client(app.state.runtime, client)
    try:
        yield app
    finally:
        await client.aclose()
