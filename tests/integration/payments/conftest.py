"""Payments fixtures: a fake Stripe (the sandbox) on loopback, settings pointing at it with short
timeouts and small breaker windows, the API in process, and workers on the payments queue.

The root `client` and `runtime` fixtures pick up the `settings_overrides` given here, so the API and the
worker share one SQLite file and one sandbox.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import bearer
from tests.integration.payments.flow import new_user

# What every payments test runs with; tests override single fields through `make_runtime`.
PAYMENT_SETTINGS: dict[str, Any] = {
    "worker_concurrency": 8,
    "provider_connect_timeout_seconds": 0.5,
    "provider_read_timeout_seconds": 0.5,
    "provider_total_timeout_seconds": 1.0,
    "breaker_sliding_window_size": 20,
    "breaker_minimum_number_of_calls": 10,
    "breaker_wait_duration_in_open_seconds": 0.5,
    "breaker_permitted_calls_in_half_open": 2,
    # The budget has its own tests (tests/unit/resilience); here it must never defer a job to the
    # 300 s cap, which would only make these tests wait.
    "retry_budget_capacity": 1_000_000.0,
    # One user here makes dozens of payments and refunds a minute; the per-user quotas have their own
    # tests (tests/security/test_api4_resource_consumption.py, test_api6_business_flows.py).
    "rate_limit_payments_per_user": "10000/minute",
    "rate_limit_refunds_per_user": "10000/minute",
    "rate_limit_refunds_per_payment": "10000/minute",
}


@pytest.fixture
def settings_overrides(sandbox: SandboxServer) -> dict[str, Any]:
    return {**PAYMENT_SETTINGS, "stripe_api_base": sandbox.base_url}


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    """A signed-up, logged-in user (free sign-up, so active at once)."""
    return await new_user(client)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return bearer(token)

