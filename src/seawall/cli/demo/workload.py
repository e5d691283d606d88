"""The demo's workload: a well-behaved client of the public API, driven concurrently.

Like a real client it retries a request on 409 (in flight), 429, 503 and connection errors with the
same Idempotency-Key, so every retry is safe; the report counts those retries.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from seawall.reports.timeline import LATENCY, Timeline

T = TypeVar("T")
RETRYABLE_STATUS = {409, 429, 502, 503, 504}


@dataclass
class DemoUser:
    index: int
    email: str
    password: str
    plan: str
    card: str
    signup_key: str
    signup_status: int | None = None
    user_id: str | None = None
    token: str | None = None
    signed_up_at: float = 0.0
    payments: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Recorder:
    """Latencies per route and answers per status; with a `timeline` (an HTML report was asked for),
    also each answer's latency at the time it came, as the `LATENCY` series `timeline_series`."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    client_retries: int = 0
    transport_errors: int = 0
    timeline: Timeline | None = None
    timeline_series: str = "API requests"

    def record(self, route: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(route, []).append(seconds)
        self.statuses[status] += 1
        if self.timeline is not None:
            self.timeline.add(LATENCY, self.timeline_series, seconds)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


class ApiClient:
    def __init__(self, http: httpx.AsyncClient, recorder: Recorder) -> None:
        self.http = http
        self.recorder = recorder

    async def call(self, method: str, url: str, *, route: str, attempts: int = 8, **kwargs: Any) -> httpx.Response:
        delay = 0.05
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                self.recorder.transport_errors += 1
                if attempt == attempts - 1:
                    raise
            else:
                self.recorder.record(route, time.perf_counter() - started, response.status_code)
                if response.status_code not in RETRYABLE_STATUS or attempt == attempts - 1:
                    return response
                retry_after = response.headers.get("Retry-After")
                delay = float(retry_after) if retry_after and retry_after.isdigit() else delay
            self.recorder.client_retries += 1
            await asyncio.sleep(min(delay, 2.0) * random.uniform(0.5, 1.0))
            delay *= 2
        raise RuntimeError("unreachable")


def make_users(count: int, *, rng: random.Random, plans: list[str], declined_share: float) -> list[DemoUser]:
    run = secrets.token_hex(3)
    users = []
    for index in range(count):
        roll = rng.random()
        card = ("pm_card_chargeDeclined" if roll < declined_share * 0.6 else
                "pm_card_chargeDeclinedInsufficientFunds" if roll < declined_share else "pm_card_visa")
        users.append(DemoUser(index=index, email=f"demo-{run}-{index}@example.com",
                              password=f"demo-password-{secrets.token_hex(6)}", plan=rng.choice(plans),
                              card=card, signup_key=f"signup-{run}-{index}"))
    return users


async def run_concurrently(items: Iterable[T], worker: Callable[[T], Awaitable[None]], *, concurrency: int,
                           on_done: Callable[[], None] | None = None) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with semaphore:
            await worker(item)
        if on_done is not None:
            on_done()

    await asyncio.gather(*(one(item) for item in items))


def bearer(user: DemoUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


async def sign_up(api: ApiClient, user: DemoUser) -> None:
    body = {"email": user.email, "password": user.password, "plan": user.plan, "payment_method": user.card}
    user.signed_up_at = time.time()
    response = await api.call("POST", "/v1/signups", route="POST /v1/signups", json=body,
                              headers={"Idempotency-Key": user.signup_key})
    user.signup_status = response.status_code
    if response.status_code == 202:
        user.user_id = response.json()["user"]["id"]


async def log_in(api: ApiClient, user: DemoUser) -> None:
    response = await api.call("POST", "/v1/sessions", route="POST /v1/sessions",
                              json={"email": user.email, "password": user.password})
    if response.status_code == 201:
        user.token = response.json()["token"]


async def load_payments(api: ApiClient, user: DemoUser) -> None:
    if user.token is None:
        return
    response = await api.call("GET", "/v1/payments", route="GET /v1/payments", headers=bearer(user),
                              params={"limit": 100})
    if response.status_code == 200:
        user.payments = response.json()["data"]


async def load_notifications(api: ApiClient, user: DemoUser) -> None:
    if user.token is None:
        return
    response = await api.call("GET", "/v1/notifications", route="GET /v1/notifications", headers=bearer(user),
                              params={"limit": 100})
    if response.status_code == 200:
        user.notifications = response.json()["data"]


async def wait_for_jobs(admin: httpx.AsyncClient, *, timeout: float) -> dict[str, Any]:
    """Poll until no job is queued or running (or the timeout passes); returns the last stats."""
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = (await admin.get("/admin/jobs/stats")).json()
        jobs = stats.get("jobs", {})
        if not jobs.get("queued") and not jobs.get("running"):
            return stats
        await asyncio.sleep(0.2)
    return stats
