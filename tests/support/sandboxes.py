"""Fixtures for the fake providers on loopback: `sandbox`, `sink`, `receiver`.

Contract:
- `sandbox` is a `SandboxServer` (fake Stripe and fake Twilio on one free port) started in the test's
  event loop with `sandbox_options` as its keyword arguments; a package or module that needs the SMTP
  sink, SMS accounts or injected faults overrides `sandbox_options` (e.g. `{"smtp_port": 0}`).
- `sink` is the sandbox's SMTP sink; it needs `smtp_port` in `sandbox_options`.
- `receiver` is a webhook receiver on a free loopback port.
All are stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from seawall.sandbox.webhook_receiver import WebhookReceiverServer


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def sandbox(sandbox_options: dict[str, Any]) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(**sandbox_options) as server:
        yield server


@pytest.fixture
def sink(sandbox: SandboxServer) -> SmtpSink:
    assert sandbox.smtp is not None, "the SMTP sink needs `smtp_port` in `sandbox_options`"
    return sandbox.smtp


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiverServer]:
    async with WebhookReceiverServer() as server:
        yield server
