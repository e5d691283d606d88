"""Scale-out on the `full` backend: 2 API processes and 3 worker processes on one PostgreSQL, one
RabbitMQ vhost and one Redis, with every effect counted at the sandbox providers.

The clients spread payments over both APIs; the workers share the charge and receipt jobs through the
broker. Each payment is one charge at the fake Stripe (its provider records, not our tables) and one
receipt at the SMTP sink (counted per Message-ID): 2 jobs with an effect each. The default is the
issue's 2,000 jobs; `SEAWALL_SCALE_OUT_PAYMENTS` changes the number of payments.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import httpx
import pytest

from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import bearer, new_email, new_key, sign_up, token_for
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.flow import assert_agrees_with_provider, load_payments
from tests.support.server import ServerFactory

PAYMENTS = int(os.environ.get("SEAWALL_SCALE_OUT_PAYMENTS", "1000"))
PAYERS = 8
CLIENT_CONCURRENCY = 24
LOGINS_ALLOWED = 5
LOGIN_ATTEMPTS = 12
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)  # below the servers' 5 s keep-alive timeout


# Scale-out runs on PostgreSQL + RabbitMQ + Redis (the `full` backend).
pytestmark = pytest.mark.backends("full")


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    # Provider faults that leave the outcome unknown to the caller: exactly-once must hold anyway.
    faults = {"seed": 11, "error_500_rate": 0.02, "lost_response_rate": 0.02, "methods": ["POST"]}
    return {"smtp_port": 0, "faults": faults}


def worker_env(sandbox: SandboxServer) -> dict[str, str]:
    assert sandbox.smtp is not None
    return {
        "SEAWALL_STRIPE_API_BASE": sandbox.base_url,
        "SEAWALL_SMTP_HOST": "127.0.0.1",
        "SEAWALL_SMTP_PORT": str(sandbox.smtp.port),
        "SEAWALL_SMTP_SECURITY": "none",
        "SEAWALL_WORKER_CONCURRENCY": "8",
        "SEAWALL_JOB_LEASE_SECONDS": "30",  # ample under load: a lost lease re-sends a receipt
        "SEAWALL_PROVIDER_READ_TIMEOUT_SECONDS": "1",
        "SEAWALL_PROVIDER_TOTAL_TIMEOUT_SECONDS": "2",
        "SEAWALL_RETRY_BUDGET_CAPACITY": "1000000",
        "SEAWALL_JOB_BACKOFF_BASE_SECONDS": "0.05",
        "SEAWALL_JOB_BACKOFF_CAP_SECONDS": "0.5",
        "SEAWALL_LOG_LEVEL": "WARNING",
        # One loopback client drives everything: lift the per-address and per-user limits, keep the
        # per-email login limit (checked across both APIs below) at its default.
        "SEAWALL_RATE_LIMIT_PER_IP": "1000000/minute",
        "SEAWALL_RATE_LIMIT_PER_USER": "1000000/minute",
        "SEAWALL_RATE_LIMIT_PAYMENTS_PER_USER": "1000000/minute",  # PAYMENTS / PAYERS charges each
        "SEAWALL_RATE_LIMIT_SIGNUP_PER_IP": "1000/minute",
        "SEAWALL_RATE_LIMIT_LOGIN_PER_IP": "1000/minute",
        "SEAWALL_RATE_LIMIT_LOGIN_PER_EMAIL": f"{LOGINS_ALLOWED}/minute",
    }


async def pay(http: httpx.AsyncClient, token: str, index: int) -> str:
    response = await http.post("/v1/payments", json={"amount": 1000 + index, "currency": "usd",
                                                      "payment_method": "pm_card_visa"},
                               headers={**bearer(token), "Idempotency-Key": new_key()})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.mark.timeout(1200)
async def test_two_apis_and_three_workers_share_the_work_with_every_effect_exactly_once(
    servers: ServerFactory, runtime: Runtime, sandbox: SandboxServer
) -> None:
    env = worker_env(sandbox)
    apis = [servers.start("api", env=env) for _ in range(2)]
    workers = [servers.start("worker", env=env) for _ in range(3)]
    # uvicorn closes a keep-alive connection idle for 5 s; a client that reuses one at that moment reads
    # a reset (httpx.ReadError). Dropping idle connections sooner on this side avoids that race.
    clients = [httpx.AsyncClient(base_url=api.base_url, timeout=30, limits=CLIENT_LIMITS) for api in apis]
    try:
        tokens: list[str] = []
        for index in range(PAYERS):
            http = clients[index % 2]
            email = new_email("scale")
            assert (await sign_up(http, email)).status_code == 201
            tokens.append(await token_for(clients[(index + 1) % 2], email))

        semaphore = asyncio.Semaphore(CLIENT_CONCURRENCY)

        async def one(index: int) -> str:
            async with semaphore:
                return await pay(clients[index % 2], tokens[index % PAYERS], index)

        payment_ids = await asyncio.gather(*(one(index) for index in range(PAYMENTS)))

        # A rate limit holds across both APIs (they count in the same Redis): truly concurrent logins
        # for one email, spread over the two processes, get exactly the allowed number through.
        email = new_email("limited")
        assert (await sign_up(clients[0], email)).status_code == 201
        logins = await asyncio.gather(*(
            clients[index % 2].post("/v1/sessions", json={"email": email, "password": "wrong-password-1"})
            for index in range(LOGIN_ATTEMPTS)))
        login_statuses = Counter(response.status_code for response in logins)
        assert login_statuses[429] == LOGIN_ATTEMPTS - LOGINS_ALLOWED, login_statuses
        assert all(r.headers.get("Retry-After") for r in logins if r.status_code == 429)
    finally:
        for client in clients:
            await client.aclose()
    assert len(set(payment_ids)) == PAYMENTS

    sink = sandbox.state.mail

    async def all_settled_and_mailed() -> bool | None:
        for process in workers:
            assert process.process.poll() is None, f"a worker exited:\n{process.log()[-3000:]}"
        payments = await load_payments(runtime.database, payment_ids)
        receipts = [m for m in sink.messages if "receipt" in m.subject.lower()]
        done = all(p.status == "succeeded" for p in payments) and len(receipts) >= PAYMENTS
        return True if done else None

    await wait_until(all_settled_and_mailed, timeout=600, what=f"{PAYMENTS} payments charged and receipted")

    # Charges: one succeeded intent per payment at the provider, never two (checked per payment).
    statuses = await assert_agrees_with_provider(runtime.database, sandbox, payment_ids)
    assert Counter(statuses.values()) == {"succeeded": PAYMENTS}
    # Receipts: one message per payment at the sink, each Message-ID delivered exactly once.
    receipts = [m for m in sink.messages if "receipt" in m.subject.lower()]
    per_id: Counter[Any] = Counter(m.message_id for m in receipts)
    assert len(per_id) == PAYMENTS and set(per_id.values()) == {1}, per_id.most_common(3)
    # The work was shared: every worker process ran some of it.
    pids = await worker_pids(runtime)
    assert len(pids) == 3, pids


async def worker_pids(runtime: Runtime) -> set[str]:
    from sqlalchemy import select

    from seawall.jobs.models import JobAttempt

    async with runtime.database.transaction() as session:
        rows = (await session.execute(select(JobAttempt.worker_id).distinct())).scalars().all()
    return {str(worker_id).split(":")[1] for worker_id in rows}
