"""The sandbox tests' clients: our Stripe adapter and a plain HTTP client, both aimed at the `sandbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from seawall.providers.stripe import StripeProvider
from seawall.sandbox.server import SandboxServer

API_KEY = "sk_test_sandbox_0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def stripe(sandbox: SandboxServer) -> AsyncIterator[StripeProvider]:
    async with StripeProvider(api_key=API_KEY, api_base=sandbox.base_url, connect_timeout=2, read_timeout=2,
                              deadline=5) as provider:
        yield provider


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the sandbox: its control routes (`/_sandbox/...`) and raw provider calls (with `AUTH`)."""
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        yield client
