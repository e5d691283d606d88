"""Notifications parameters for the shared fixtures: the sandbox with its SMTP sink (fake Stripe and
fake Twilio on one port, the sink on another), settings pointing every channel at it, and the API on
`fake_clock`, the clock the one-shot worker (`run_jobs`) runs on.

The API, the worker and the test's own transactions share one database and one sandbox. Retries are
made due by moving `fake_clock` past the backoff cap (`run_retries`), never by sleeping.
"""

from __future__ import annotations

from typing import Any

import pytest

from seawall.config import WebhookSettings
from seawall.kit.clock import FakeClock
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from tests.support.workers import RunJobs

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
def sandbox_options() -> dict[str, Any]:
    return {"smtp_port": 0}


@pytest.fixture
def settings_overrides(sandbox: SandboxServer, sink: SmtpSink) -> dict[str, Any]:
    return {
        **NOTIFICATION_SETTINGS,
        "smtp_port": sink.port,
        "sms_api_base": sandbox.base_url,
        "stripe_api_base": sandbox.base_url,
        "webhooks": WebhookSettings(allow_private=True),
    }


@pytest.fixture
def app_clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


@pytest.fixture
def run_retries(run_jobs: RunJobs, fake_clock: FakeClock) -> RunJobs:
    """Move the clock past any backoff, then run every job that became due."""

    async def run() -> None:
        fake_clock.advance(PAST_ANY_BACKOFF_SECONDS)
        await run_jobs()

    return run
