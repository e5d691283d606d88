"""`seawall bench pipeline`: the whole paid path end to end, over real processes, faults off.

It starts `seawall sandbox` (no injected faults) and `seawall serve` (API + worker in one process) on
free loopback ports with the demo's own pieces (`cli.demo.processes`, `workload`, `subscribers`), on
a fresh database: the embedded SQLite file in a temporary directory, or, with a PostgreSQL URL, a new
database on that server (random suffix), migrated before and dropped after the run.

Before the clock starts, two webhook subscribers sign up and register an endpoint on an in-process
receiver, and the queue drains. Then it sends `signups` paid sign-ups (`POST /v1/signups`, a plan and
a card that is always accepted) interleaved with `webhook_payments` subscribers' payments
(`POST /v1/payments`): in a closed loop, `concurrency` requests in flight (the default: the most the
API accepts, so the queue builds up and effect latencies measure the backlog); or with `rate`, in an
open loop, sign-ups started at that many per second whatever the answers (latency at a given load).
Webhook events go to the paying user's own endpoints, and a new sign-up has none when its charge
settles, so the `payment.succeeded` webhook leg is driven by the subscribers' payments (same charge
job, same settlement, plus the delivery job).

The measured window runs from the first request sent to the last effect recorded by a provider
(charge captured at the sandbox, mail accepted by the SMTP sink, webhook accepted by the receiver).
Server CPU seconds and RSS come from `ProcessGroupMeter` (the server and its children), read just
before the first request and once the queue is idle again. Jobs succeeded are counted from the admin
API's `/admin/jobs/stats` (after minus before). Afterwards every sign-up logs in to read its payments
and notifications, and the exactly-once check is made against the providers' records
(`pipeline_report.check_exactly_once`); the result's `ok` is false when any effect was lost or
duplicated.

With a `timeline` (`--html`), from the window's start until the queue is idle the jobs table is
counted by state every 0.5 s from this process (`reports.probes.JobCountProbe`) and, when `seawall
serve` makes the provider calls itself (no `--workers`), its `/admin/providers` breaker states too;
every measured request's latency is recorded as it comes, and each effect's latency at the time its
provider recorded it (`pipeline_report.Latencies.effects`).

This module imports the demo's drivers from `seawall.cli.demo`: the bench is a CLI feature, and the
demo's client is the one a benchmark of the public API should use.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url

from seawall.bench.meter import GroupReading, ProcessGroupMeter
from seawall.bench.pipeline_report import (
    EFFECT_SERIES,
    Effects,
    Latencies,
    WebhookPayment,
    check_exactly_once,
    latency_summary,
    measure_latencies,
)
from seawall.bench.scratch import admin_execute, drop_database
from seawall.cli.demo import workload
from seawall.cli.demo.processes import DemoProcess, Sandbox, server_env, start_sandbox, start_server, start_worker
from seawall.cli.demo.subscribers import Subscriber, create_subscriber
from seawall.config import Settings
from seawall.payments.plans import PLANS
from seawall.reports.probes import BreakerProbe, JobCountProbe
from seawall.reports.timeline import LATENCY, Probe, Sampler, Timeline
from seawall.runtime import Runtime

SUBSCRIBERS = 2
SETTLE_TIMEOUT_SECONDS = 300.0  # the queue must drain within this after the last request
LOAD_TIMEOUT_SECONDS = 600.0  # the whole request phase is bounded by this too
T = TypeVar("T")
BENCH_SECRET = "bench-secret-key-not-for-production"  # server mode requires one; the database is dropped after
REQUESTS_SERIES = "requests (sign-ups and payments)"
REPORT_SOURCES = {  # what each chart of the `--html` report shows (reports.html.CHARTS)
    "chart-latency": "Each measured request (sign-ups and subscribers' payments) by the time its answer came; each "
                     "effect (charge, welcome email, webhook) from its request's send to the time its provider "
                     "recorded it, by that time.",
    "chart-queue-depth": "The run's jobs table counted by state every 0.5 s from the bench process (the query "
                         "behind GET /admin/jobs/stats), from the first request until the queue was idle.",
    "chart-breaker": "GET /admin/providers of `seawall serve` every 0.5 s: the breaker of each payment route in the "
                     "process that makes the provider calls. Faults are off: it should stay closed.",
    "chart-throughput": "Answers and effects completed per bucket; jobs succeeded/s and enqueued/s from the sampled "
                        "jobs-table counts.",
}


@dataclass(frozen=True)
class PipelineOptions:
    signups: int = 300
    concurrency: int = 16
    webhook_payments: int | None = None  # None: one for every four sign-ups
    database_url: str | None = None  # a PostgreSQL URL; None: the embedded SQLite file
    rate: float | None = None  # sign-ups per second, open loop (None: closed loop at `concurrency`)
    workers: int = 0  # > 0 (PostgreSQL only): `seawall api` plus this many `seawall worker` processes
    seed: int = 7

    @property
    def payments(self) -> int:
        return self.webhook_payments if self.webhook_payments is not None else max(1, self.signups // 4)


@dataclass
class Window:
    """The measured window: its start (epoch seconds) and readings of the server and the sandbox."""

    started_at: float
    server_before: GroupReading
    sandbox_before: GroupReading
    client_cpu_before: float
    jobs_before: dict[str, Any]
    drained_at: float = 0.0  # epoch seconds: when the queue was seen idle after the last request


def run(options: PipelineOptions, *, timeline: Timeline | None = None) -> dict[str, Any]:
    """Run the bench; a flat dict of figures plus `checks` (list of {name, ok, detail}) and `ok`.
    `timeline`: also record the run for the HTML report (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="seawall-bench-pipeline-") as directory:
        data_dir = Path(directory)
        sandbox = start_sandbox(data_dir, faults={}, smtp_faults={})  # it starts while the database is made
        database_url: str | None = None
        try:
            database_url = _create_database(options.database_url, data_dir) if options.database_url else None
            return _run(options, data_dir, sandbox, database_url, timeline)
        finally:
            sandbox.process.stop()
            if database_url is not None:
                asyncio.run(drop_database(options.database_url or "", make_url(database_url).database or ""))


def _create_database(server_url: str, data_dir: Path) -> str:
    """A fresh database on `server_url`'s server, at the newest schema revision; its async URL."""
    url = make_url(server_url).set(drivername="postgresql+asyncpg")
    name = f"{url.database or 'seawall'}_pipeline_{secrets.token_hex(4)}"
    asyncio.run(admin_execute(server_url, f'CREATE DATABASE "{name}"'))
    fresh = url.set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(Settings(var_dir=data_dir, database_url=fresh, secret_key=BENCH_SECRET,
                                      log_level="WARNING")))
    except BaseException:
        asyncio.run(drop_database(server_url, name))
        raise
    return fresh


async def _migrate(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    try:
        await runtime.database.migrate()
    finally:
        await runtime.aclose()


def _run(options: PipelineOptions, data_dir: Path, sandbox: Sandbox, database_url: str | None,
         timeline: Timeline | None) -> dict[str, Any]:
    admin_key = secrets.token_urlsafe(24)
    extra = {"SEAWALL_DATABASE_URL": database_url, "SEAWALL_SECRET_KEY": BENCH_SECRET} if database_url else {}
    server = start_server(data_dir, admin_key=admin_key, sandbox=sandbox, extra_env=extra,
                          role="api" if options.workers else "serve")
    env = server_env(data_dir, admin_key=admin_key, sandbox=sandbox, extra_env=extra)
    workers = [_start_worker(data_dir, index, env) for index in range(options.workers)]
    try:
        if not sandbox.process.wait_ready("/_sandbox/stats"):
            raise RuntimeError(f"the sandbox did not start:\n{sandbox.process.log_tail()}")
        if not server.wait_ready("/readyz"):
            raise RuntimeError(f"the server did not start:\n{server.log_tail()}")
        sampler = _sampler(timeline, options, Settings(var_dir=data_dir, database_url=database_url),
                           base_url=server.base_url, admin_key=admin_key)
        result = {"database": "sqlite" if database_url is None else "postgresql",
                  "server_roles": f"seawall api + {options.workers} seawall worker" if workers else "seawall serve",
                  **asyncio.run(_drive(options, server=server, sandbox=sandbox.process, admin_key=admin_key,
                                       server_pids=[p.process.pid for p in (server, *workers)], sampler=sampler))}
    finally:
        exit_codes = {p.name: p.stop() for p in (server, *workers)}
    result["checks"].append({"name": "the server processes drain and exit cleanly on SIGTERM",
                             "ok": all(code == 0 for code in exit_codes.values()), "detail": str(exit_codes)})
    result["ok"] = all(check["ok"] for check in result["checks"])
    if not result["ok"]:
        result["server_log_tail"] = "\n".join(p.log_tail() for p in (server, *workers))
    return result


def _sampler(timeline: Timeline | None, options: PipelineOptions, settings: Settings, *, base_url: str,
             admin_key: str) -> Sampler | None:
    """The report's sampler (not started), when a report was asked for."""
    if timeline is None:
        return None
    probes: list[Probe] = [JobCountProbe(settings)]
    if options.workers:
        timeline.notes.append("Breaker state not sampled: the provider calls are made by separate `seawall worker` "
                              "processes, each with breakers of its own that no HTTP route shows.")
    else:
        probes.append(BreakerProbe(base_url, admin_key))
    return Sampler(timeline, probes)


def _record_effects(timeline: Timeline, latencies: Latencies) -> None:
    for name, effect_at, seconds in latencies.effects:
        timeline.add(LATENCY, EFFECT_SERIES[name], seconds, at=effect_at)


def _start_worker(data_dir: Path, index: int, env: dict[str, str]) -> DemoProcess:
    """A `seawall worker` process beside `seawall api` (it has no HTTP port: `base_url` is empty)."""
    return start_worker(data_dir, env, name=f"worker-{index}")


def _interleave(users: list[workload.DemoUser], payments: list[WebhookPayment]
                ) -> list[workload.DemoUser | WebhookPayment]:
    """The sign-ups in order, with the subscribers' payments spread evenly among them."""
    items: list[workload.DemoUser | WebhookPayment] = []
    pending = list(payments)
    for index, user in enumerate(users):
        items.append(user)
        while pending and pending[0].number * len(users) <= index * len(payments):
            items.append(pending.pop(0))
    return items + pending


async def _open_loop(items: list[T], send: Callable[[T], Coroutine[Any, Any, None]], *, per_second: float
                     ) -> None:
    """Start item i at i / per_second seconds, whether or not earlier ones have answered (no cap in flight)."""
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for index, item in enumerate(items):
        await asyncio.sleep(max(0.0, started + index / per_second - time.monotonic()))
        tasks.append(asyncio.create_task(send(item)))
    await asyncio.gather(*tasks)


async def _pay(api: workload.ApiClient, payment: WebhookPayment) -> None:
    user = payment.subscriber.user
    payment.sent_at = time.time()
    response = await api.call("POST", "/v1/payments", route="POST /v1/payments",
                              headers={**workload.bearer(user), "Idempotency-Key": payment.idempotency_key},
                              json={"amount": 1000 + payment.number, "currency": "usd",
                                    "payment_method": "pm_card_visa", "description": f"bench {payment.number}"})
    payment.status = response.status_code
    if response.status_code == 202:
        payment.payment_id = str(response.json()["id"])
        payment.subscriber.payment_ids.append(payment.payment_id)


async def _drive(options: PipelineOptions, *, server: DemoProcess, sandbox: DemoProcess, admin_key: str,
                 server_pids: list[int], sampler: Sampler | None = None) -> dict[str, Any]:
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer  # loaded only when the bench runs

    rng = random.Random(options.seed)
    users = workload.make_users(options.signups, rng=rng, plans=sorted(PLANS), declined_share=0.0)
    recorder = workload.Recorder()
    server_meter = ProcessGroupMeter(server_pids)
    sandbox_meter = ProcessGroupMeter([sandbox.process.pid])
    limits = httpx.Limits(max_connections=max(options.concurrency * 2, 64 if options.rate else 0))
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0, limits=limits) as http,
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0,
                          headers={"Authorization": f"Bearer {admin_key}"}) as admin,
        httpx.AsyncClient(base_url=sandbox.base_url, timeout=30.0) as provider,
        WebhookReceiverServer() as receiver,
    ):
        api = workload.ApiClient(http, recorder)
        subscribers = [await create_subscriber(api, receiver, index) for index in range(SUBSCRIBERS)]
        if any(s.endpoint_id is None for s in subscribers):
            raise RuntimeError("a webhook subscriber could not register its endpoint")
        payments = [WebhookPayment(subscriber=subscribers[n % SUBSCRIBERS], number=n) for n in range(options.payments)]
        window = Window(started_at=0.0, jobs_before=await workload.wait_for_jobs(admin, timeout=60),
                        server_before=server_meter.read(), sandbox_before=sandbox_meter.read(),
                        client_cpu_before=time.process_time())
        timeline = sampler.timeline if sampler is not None else None
        load_recorder = workload.Recorder(timeline=timeline, timeline_series=REQUESTS_SERIES)  # measured ones only
        load = workload.ApiClient(http, load_recorder)
        if sampler is not None:
            sampler.timeline.started_at = time.time()
            await asyncio.to_thread(sampler.start)
        window.started_at = time.time()

        async def one(item: workload.DemoUser | WebhookPayment) -> None:
            await (_pay(load, item) if isinstance(item, WebhookPayment) else workload.sign_up(load, item))

        items = _interleave(users, payments)
        if options.rate is None:
            load_phase = workload.run_concurrently(items, one, concurrency=options.concurrency)
        else:
            load_phase = _open_loop(items, one, per_second=options.rate * len(items) / len(users))
        try:
            await asyncio.wait_for(load_phase, LOAD_TIMEOUT_SECONDS)
            if timeline is not None:
                timeline.add_phase("requests", window.started_at, time.time())
            jobs_after = await workload.wait_for_jobs(admin, timeout=SETTLE_TIMEOUT_SECONDS)
            window.drained_at = time.time()
            if timeline is not None:
                timeline.add_phase("draining the queue", timeline.phases[-1].end, window.drained_at)
        finally:
            if sampler is not None:
                await asyncio.to_thread(sampler.stop)
        server_after = server_meter.read(only_leaves=True)
        sandbox_after = sandbox_meter.read()
        client_cpu = time.process_time() - window.client_cpu_before
        effects = Effects(intents=(await provider.get("/_sandbox/payments/intents")).json()["data"],
                          mail=(await provider.get("/_sandbox/smtp/messages")).json(), receiver=receiver)

        async def read_back(user: workload.DemoUser) -> None:
            await workload.log_in(api, user)
            await workload.load_payments(api, user)
            await workload.load_notifications(api, user)

        await workload.run_concurrently([u for u in users if u.signup_status == 202], read_back,
                                        concurrency=options.concurrency)
        for subscriber in subscribers:
            await workload.load_payments(api, subscriber.user)
    return _figures(options, users=users, payments=payments, subscribers=subscribers, effects=effects,
                    window=window, jobs_after=jobs_after, server_after=server_after, sandbox_after=sandbox_after,
                    client_cpu=client_cpu, load_recorder=load_recorder, timeline=timeline)


def _figures(options: PipelineOptions, *, users: list[workload.DemoUser], payments: list[WebhookPayment],
             subscribers: list[Subscriber], effects: Effects, window: Window, jobs_after: dict[str, Any],
             server_after: GroupReading, sandbox_after: GroupReading, client_cpu: float,
             load_recorder: workload.Recorder, timeline: Timeline | None = None) -> dict[str, Any]:
    exactly_once, webhooks = check_exactly_once(users=users, payments=payments, subscribers=subscribers,
                                                effects=effects)
    latencies = measure_latencies(users=users, payments=payments, effects=effects)
    if timeline is not None:
        _record_effects(timeline, latencies)
    # No effect at all (everything lost; the check fails): the window ends when the queue was idle.
    ended_at = latencies.last_effect_at if latencies.last_effect_at > window.started_at else window.drained_at
    wall = max(ended_at - window.started_at, 1e-6)
    jobs_now, jobs_then = jobs_after.get("jobs", {}), window.jobs_before.get("jobs", {})
    jobs_succeeded = int(jobs_now.get("succeeded", 0)) - int(jobs_then.get("succeeded", 0))
    idle = not jobs_now.get("queued") and not jobs_now.get("running")
    server_cpu = server_after.cpu_seconds_since(window.server_before)
    checks = [
        {"name": "the queue drained (no job queued or running)", "ok": idle, "detail": str(jobs_now)},
        {"name": "no job dead-lettered", "ok": not jobs_now.get("dead"), "detail": f"{jobs_now.get('dead', 0)} dead"},
        {"name": "every request accepted, every sign-up charged once at the provider", "ok": not (
            exactly_once.not_accepted or exactly_once.not_charged or exactly_once.charged_twice),
         "detail": ", ".join([*exactly_once.not_accepted, *exactly_once.not_charged, *exactly_once.charged_twice][:3])},
        {"name": "one welcome and one receipt per sign-up at the SMTP sink, by Message-ID",
         "ok": not exactly_once.emails_missing_or_extra, "detail": ", ".join(exactly_once.emails_missing_or_extra[:3])},
        {"name": "one verified payment.succeeded webhook per subscriber payment, by webhook-id", "ok": not (
            exactly_once.webhooks_missing or exactly_once.webhooks_duplicated or exactly_once.webhooks_unverified),
         "detail": ", ".join([*exactly_once.webhooks_missing, *exactly_once.webhooks_duplicated][:3])
         or f"{webhooks['events_delivered']} events"},
    ]
    return {
        "signups": options.signups,
        "webhook_payments": options.payments,
        "concurrency": options.concurrency,
        "mode": "closed loop" if options.rate is None else f"open loop, {options.rate:g} sign-ups/s",
        "server_processes": len(server_after.cpu_seconds),
        "wall_seconds": round(wall, 3),
        "signups_per_second": round(options.signups / wall, 1),
        "jobs_succeeded": jobs_succeeded,
        "jobs_per_second": round(jobs_succeeded / wall, 1),
        "signup_to_charge": latency_summary(latencies.signup_to_charge),
        "signup_to_welcome_email": latency_summary(latencies.signup_to_welcome_email),
        "payment_to_webhook": latency_summary(latencies.payment_to_webhook),
        "signup_request": latency_summary(load_recorder.latencies.get("POST /v1/signups", [])),
        "server_cpu_seconds": round(server_cpu, 2),
        "server_cpu_ms_per_signup": round(1000 * server_cpu / options.signups, 2),
        "server_cpu_ms_per_job": round(1000 * server_cpu / jobs_succeeded, 2) if jobs_succeeded else None,
        "server_rss_mb": round(server_after.max_rss_mb, 1),
        "server_rss_mb_total": round(server_after.total_rss_mb, 1),
        "sandbox_cpu_seconds": round(sandbox_after.cpu_seconds_since(window.sandbox_before), 2),
        "bench_client_cpu_seconds": round(client_cpu, 2),
        "responses_by_status": {str(k): v for k, v in sorted(load_recorder.statuses.items())},
        "client_retries": load_recorder.client_retries,
        "emails_redelivered": len(effects.mail.get("duplicates", {}) or {}),
        "webhooks_redelivered": int(webhooks["redeliveries"]),
        "exactly_once": exactly_once.as_dict(),
        "checks": checks,
    }
