"""Promise 6 (issue 14): overload is shed, not queued, and the process recovers by itself.

A real `seawall api` process with room for 3 requests in flight gets a burst of truly concurrent
sign-ups (each one slow: its password hash is made deliberately costly here), with readiness probes
among them. Judged by counts, never by timings:
- every answer is either an admitted sign-up (201) or a shed one (503 `overloaded` in the one error
  shape, with `Retry-After`); some of each; the probes are all 200 (never shed);
- nothing admitted is lost: every 201 sign-up's account exists in the database, and no shed one's does;
- each shed answer is counted (`seawall_http_requests_shed_total`, and `seawall_http_requests_total`
  with status 503) and has its access-log line;
- after the burst, sign-ups one at a time are all admitted again.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from seawall.accounts.models import User
from seawall.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import STRONG_PASSWORD, new_email, new_key
from tests.support.metrics import sample
from tests.support.server import ServerFactory

MAX_IN_FLIGHT = 3
BURST = 24  # sign-ups sent at once
PROBES = 4  # readiness probes sent with them
AFTER = 3  # sign-ups one at a time once the burst is answered

pytestmark = pytest.mark.backends("sqlite")  # shedding decides before any database work


async def sign_up(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                           headers={"Idempotency-Key": new_key()})


async def existing_emails(runtime: Runtime, emails: list[str]) -> set[str]:
    async with runtime.database.transaction() as session:
        rows = await session.execute(select(User.email).where(User.email.in_(emails)))
        return set(rows.scalars().all())


def access_lines(log: str, status: int) -> int:
    count = 0
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "http.request" and record.get("route") == "/v1/signups" \
                and record.get("status") == status:
            count += 1
    return count


async def test_a_burst_past_the_limit_is_shed_nothing_admitted_is_lost_and_it_recovers(
    servers: ServerFactory, runtime: Runtime, var_dir: Path,
) -> None:
    api = servers.start("api", env={
        "SEAWALL_MAX_IN_FLIGHT_REQUESTS": str(MAX_IN_FLIGHT),
        "SEAWALL_OVERLOAD_RETRY_AFTER_SECONDS": "2",
        "SEAWALL_RATE_LIMIT_ENABLED": "false",  # the per-client 429s have their own tests
        "SEAWALL_ARGON2_TIME_COST": "3",  # a slower sign-up (one hashing thread): the burst overlaps
        "SEAWALL_PASSWORD_HASHING_THREADS": "1",
    })
    emails = [new_email("burst") for _ in range(BURST)]
    limits = httpx.Limits(max_connections=BURST + PROBES, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60, limits=limits) as http:
        # Open every connection first, so the burst's requests leave together rather than one per handshake.
        await asyncio.gather(*(http.get("/livez") for _ in range(BURST + PROBES)))
        answers = await asyncio.gather(*(sign_up(http, email) for email in emails),
                                       *(http.get("/readyz") for _ in range(PROBES)))
        signups, probes = answers[:BURST], answers[BURST:]

        assert [probe.status_code for probe in probes] == [200] * PROBES
        admitted = [email for email, answer in zip(emails, signups, strict=True) if answer.status_code == 201]
        shed = [answer for answer in signups if answer.status_code == 503]
        assert len(admitted) + len(shed) == BURST, [answer.status_code for answer in signups]
        assert len(admitted) >= MAX_IN_FLIGHT and shed, (len(admitted), len(shed))
        for answer in shed:
            assert answer.headers["retry-after"] == "2"
            assert answer.headers["x-request-id"]  # the request id middleware ran: outside the shedding
            assert answer.json()["error"]["type"] == "overloaded"
            assert set(answer.json()["error"]) == {"type", "message"}

        # Nothing admitted is lost, nothing shed was half done.
        assert await existing_emails(runtime, emails) == set(admitted)

        # Recovery: the burst is over, one at a time is admitted again.
        after = [new_email("after") for _ in range(AFTER)]
        for email in after:
            assert (await sign_up(http, email)).status_code == 201
        assert await existing_emails(runtime, after) == set(after)

        scrape = await http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert scrape.status_code == 200
    assert sample(scrape.text, "seawall_http_requests_shed_total") == len(shed)
    assert sample(scrape.text, "seawall_http_requests_total", route="/v1/signups", status="503") == len(shed)
    assert sample(scrape.text, "seawall_http_requests_total", route="/v1/signups", status="201") \
        == len(admitted) + AFTER
    assert sample(scrape.text, "seawall_http_requests_in_flight") == 0
    api.stop()
    assert access_lines(api.log(), 503) == len(shed)
