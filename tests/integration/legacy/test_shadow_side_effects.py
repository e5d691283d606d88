"""Promise (issue 16, shadow mode): a shadowed creating route performs each side effect once. The legacy
app performs it (its own counter: 1); Seawall's shadow run of the same request is a dry run, so
Seawall's database keeps no row of it and the providers (the sandbox's fake Stripe, the SMTP sink) never
hear from Seawall, although a worker is running that would charge and mail anything committed.

The control test runs the same request without the dry run and sees the charge reach the sandbox: the
checks above can fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from seawall.accounts.models import User
from seawall.app import create_app
from seawall.config import Settings
from seawall.jobs.models import Job
from seawall.legacy.compare import Result
from seawall.legacy.routes import SideEffects
from seawall.legacy.shadow import ShadowRunner
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from tests.integration.accounts.wire import STRONG_PASSWORD, new_email, new_key
from tests.integration.legacy.shadow_support import SIGNUPS, call_legacy, comparisons, legacy, legacy_app
from tests.support.legacy_app.process import LegacyApp

__all__ = ["legacy", "legacy_app"]  # fixtures

QUIET_SECONDS = 1.0  # how long a running worker is given to act on anything the shadow run left behind


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"smtp_port": 0}


@pytest.fixture
def settings_overrides(sandbox: SandboxServer, sink: SmtpSink) -> dict[str, Any]:
    return {
        "stripe_api_base": sandbox.base_url,
        "smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none",
        "provider_connect_timeout_seconds": 2.0, "provider_read_timeout_seconds": 5.0,
        "provider_total_timeout_seconds": 10.0,
    }


@pytest.fixture
async def serving(settings: Settings, runtime: Runtime) -> AsyncIterator[FastAPI]:
    """Seawall with its worker running (`seawall serve`), so whatever a shadow run committed would be
    charged and mailed. Without an upstream, so the app is Seawall's own stack (what the bridge hands
    the runner); `test_shadow_bridge.py` goes through the bridge."""
    app = create_app(settings, run_worker=True)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def runner(serving: FastAPI) -> AsyncIterator[ShadowRunner]:
    """The runner as `LegacyServices` builds it, on the serving app's database and clock."""
    runtime: Runtime = serving.state.runtime
    shadow = ShadowRunner.build(runtime.settings, database=runtime.database, clock=runtime.clock)
    try:
        yield shadow
    finally:
        await shadow.aclose()


async def users_named(runtime: Runtime, email: str) -> int:
    async with runtime.database.read_transaction() as session:
        query = select(func.count()).select_from(User).where(User.email == email)
        return int((await session.execute(query)).scalar_one())


async def effect_jobs(runtime: Runtime) -> int:
    """Jobs that would leave the process (the periodic maintenance jobs the worker schedules aside)."""
    async with runtime.database.read_transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Job).where(
            Job.kind.in_(["payments.charge", "notifications.send", "webhooks.deliver"])))).scalar_one())


def paid_signup(email: str) -> dict[str, Any]:
    return {"email": email, "password": STRONG_PASSWORD, "plan": "pro", "payment_method": "pm_card_visa"}


async def test_a_shadowed_paid_signup_charges_and_creates_once_at_legacy_only(
    serving: FastAPI, runner: ShadowRunner, runtime: Runtime, legacy: LegacyApp, sandbox: SandboxServer,
    sink: SmtpSink,
) -> None:
    email = new_email("shadow")
    request, answer = call_legacy(legacy, "POST", "/v1/signups", json=paid_signup(email),
                                  headers={"idempotency-key": new_key()})
    assert answer.status == 202, answer.body

    runner.submit(serving, SIGNUPS, request, answer)
    await runner.wait_idle(10.0)
    await asyncio.sleep(QUIET_SECONDS)

    [row] = await comparisons(runtime.database, SIGNUPS.name)
    assert (row.result, row.legacy_status, row.seawall_status) == (Result.AGREED, 202, 202), (row.patch, row.note)
    assert legacy.effects() == {"account.created": 1, "payment.created": 1}
    assert await users_named(runtime, email) == 0
    assert await effect_jobs(runtime) == 0
    assert sandbox.state.payments.intents == {}
    assert sum(sandbox.state.requests.outcomes.values()) == 0
    assert (sink.mailbox.messages, sink.mailbox.connections_accepted) == ([], 0)


async def test_control_the_same_run_without_the_dry_run_reaches_the_provider(
    serving: FastAPI, runner: ShadowRunner, runtime: Runtime, legacy: LegacyApp, sandbox: SandboxServer,
) -> None:
    email = new_email("control")
    request, answer = call_legacy(legacy, "POST", "/v1/signups", json=paid_signup(email),
                                  headers={"idempotency-key": new_key()})
    runner.submit(serving, SIGNUPS.__class__(**{**SIGNUPS.__dict__, "side_effects": SideEffects.NONE}),
                  request, answer)
    await runner.wait_idle(10.0)

    assert await users_named(runtime, email) == 1
    deadline = time.monotonic() + 10.0
    while not sandbox.state.payments.intents and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(sandbox.state.payments.intents) == 1
