"""Promise (issue 16, shadow mode), end to end through the bridge: a real `seawall serve` process (API and
worker) in front of the real legacy app, `POST /v1/signups` marked `shadow`. The client gets legacy's
answer (its status, body and marker header), the comparison is recorded and reported as agreed, and the
sign-up's side effects happen once: at legacy (its counters), never at Seawall (no user row, nothing at
the sandbox's fake Stripe or SMTP sink, although Seawall's worker runs).

Switched on by the bridge (`seawall.legacy.bridge`, the bridge part of issue 16); until it is merged this
module is skipped."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from seawall.accounts.models import User
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import STRONG_PASSWORD, new_email, new_key
from tests.integration.legacy.shadow_support import comparisons, legacy, legacy_app
from tests.support.legacy_app.process import LegacyApp
from tests.support.server import ServerFactory

__all__ = ["legacy", "legacy_app"]  # fixtures

pytestmark = [
    pytest.mark.backends("sqlite"),
    pytest.mark.skipif(importlib.util.find_spec("seawall.legacy.bridge") is None,
                       reason="needs the bridge (seawall.legacy.bridge)"),
]

ROUTES = """
[[route]]
path = "/v1/signups"
methods = ["POST"]
mode = "shadow"
ignore = ["id", "created_at", "updated_at"]
"""
RECORDED_WITHIN_SECONDS = 15.0
QUIET_SECONDS = 1.0


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"smtp_port": 0}


async def test_a_shadowed_signup_answers_from_legacy_and_is_performed_once(
    servers: ServerFactory, runtime: Runtime, legacy: LegacyApp, sandbox: SandboxServer, sink: SmtpSink,
    tmp_path: Path,
) -> None:
    table = tmp_path / "routes.toml"
    table.write_text(ROUTES)
    server = await asyncio.to_thread(servers.start, "serve", env={
        "SEAWALL_LEGACY_UPSTREAM": legacy.url, "SEAWALL_LEGACY_ROUTES": str(table),
        "SEAWALL_STRIPE_API_BASE": sandbox.base_url, "SEAWALL_SMTP_HOST": "127.0.0.1",
        "SEAWALL_SMTP_PORT": str(sink.port), "SEAWALL_SMTP_SECURITY": "none",
    })
    email = new_email("bridge")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        response = await http.post("/v1/signups", headers={"Idempotency-Key": new_key()}, json={
            "email": email, "password": STRONG_PASSWORD, "plan": "pro", "payment_method": "pm_card_visa"})
        assert response.status_code == 202, response.text
        assert response.headers.get("x-legacy-app") == "accounts"  # legacy's answer, not Seawall's
        assert response.json()["user"]["email"] == email

        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        deadline = time.monotonic() + RECORDED_WITHIN_SECONDS
        routes: list[dict[str, Any]] = []
        while not routes and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            routes = (await http.get("/admin/legacy/report", headers=admin)).json()["routes"]
    [route] = routes
    assert route["counts"]["agreed"] == 1, route
    await asyncio.sleep(QUIET_SECONDS)

    assert legacy.effects() == {"account.created": 1, "payment.created": 1}
    async with runtime.database.read_transaction() as session:
        users = (await session.execute(select(func.count()).select_from(User).where(User.email == email))).scalar_one()
    assert users == 0
    assert sandbox.state.payments.intents == {}
    assert (sink.mailbox.messages, sink.mailbox.connections_accepted) == ([], 0)


async def test_the_recorded_comparison_carries_the_request_id_seawall_made(
    servers: ServerFactory, runtime: Runtime, legacy: LegacyApp, sandbox: SandboxServer, sink: SmtpSink,
    tmp_path: Path,
) -> None:
    """A client that sends no X-Request-Id: the comparison row holds the id Seawall made for the request
    (the one on the answer's X-Request-Id), so the row can be found from the client's answer and the logs."""
    table = tmp_path / "routes.toml"
    table.write_text(ROUTES)
    server = await asyncio.to_thread(servers.start, "serve", env={
        "SEAWALL_LEGACY_UPSTREAM": legacy.url, "SEAWALL_LEGACY_ROUTES": str(table),
        "SEAWALL_STRIPE_API_BASE": sandbox.base_url, "SEAWALL_SMTP_HOST": "127.0.0.1",
        "SEAWALL_SMTP_PORT": str(sink.port), "SEAWALL_SMTP_SECURITY": "none",
    })
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        response = await http.post("/v1/signups", headers={"Idempotency-Key": new_key()}, json={
            "email": new_email("bridge-id"), "password": STRONG_PASSWORD, "plan": "pro",
            "payment_method": "pm_card_visa"})
    assert response.status_code == 202, response.text
    assert "x-request-id" not in response.request.headers
    request_id = response.headers["x-request-id"]
    assert request_id
    deadline = time.monotonic() + RECORDED_WITHIN_SECONDS
    rows = await comparisons(runtime.database)
    while not rows and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        rows = await comparisons(runtime.database)
    [row] = rows
    assert row.request_id == request_id
