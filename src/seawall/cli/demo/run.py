"""`seawall demo`: the main job, on a fresh embedded database and free loopback ports.

It starts the sandbox providers (with injected faults), the HTTP API (`seawall api`) and one job
worker (`seawall worker`) as real processes on the same SQLite file, then drives a realistic workload
over HTTP: paid sign-ups (some cards declined), logins, password resets, a short provider outage
mid-run, retries of failed sign-up payments with another card, and refunds. While the sign-ups'
payments are being charged it kills the worker with SIGKILL (`--kills`, default 1; `worker_kills.py`)
and starts a new one; the jobs the dead one held run again once their short lease expires. It waits
for every job to finish, checks the promises against the sandbox's own records (not only Seawall's
tables), stops the API and the worker with SIGTERM and prints a report. `--kills 0` runs the
all-in-one `seawall serve` instead, killing nothing. Exit code 0 only when every invariant holds.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import random
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from seawall.cli.demo import html_report, workload
from seawall.cli.demo.processes import DemoProcess, run_doctor, server_env, start_sandbox, start_server
from seawall.cli.demo.report import DemoReport, build_report, print_report
from seawall.cli.demo.subscribers import create_subscriber, pay, refund_some, webhook_findings
from seawall.cli.demo.worker_kills import WorkerKill, WorkerKiller, WorkerSide
from seawall.config import Settings
from seawall.payments.plans import PLANS
from seawall.reports.timeline import Sampler, Timeline


@dataclass(frozen=True)
class DemoOptions:
    users: int = 500
    concurrency: int = 16
    declined_share: float = 0.15
    error_rate: float = 0.06  # split over 500, 503 and 429
    hang_rate: float = 0.01
    lost_response_rate: float = 0.02
    outage_seconds: float = 2.0
    seed: int = 7
    kills: int = 1  # SIGKILLs of the worker while charging; 0: the all-in-one `seawall serve`, never killed
    as_json: bool = False
    keep: bool = False
    html: Path | None = None  # also write the self-contained HTML report (`html_report.py`) here

    def smtp_faults(self) -> dict[str, Any]:
        return {"seed": self.seed, "error_451_rate": self.error_rate / 3, "lost_response_rate": self.lost_response_rate,
                "latency_ms": 2, "latency_jitter_ms": 10}

    def faults(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "error_500_rate": self.error_rate / 3,
            "error_503_rate": self.error_rate / 3,
            "error_429_rate": self.error_rate / 3,
            "retry_after_seconds": 1,
            "hang_rate": self.hang_rate,
            "lost_response_rate": self.lost_response_rate,
            "latency_ms": 5,
            "latency_jitter_ms": 20,
            "methods": ["POST"],
        }


def run_demo(options: DemoOptions) -> int:
    console = Console(stderr=options.as_json)
    data_dir = (Settings().var_dir / "demo").resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # One demo per data directory: a second one would delete the first one's database mid-run.
    with open(data_dir.parent / "demo.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print(f"[red]another `seawall demo` is running on {data_dir}; wait for it to finish[/]")
            return 2
        return _run_demo(options, console, data_dir)


def _run_demo(options: DemoOptions, console: Console, data_dir: Path) -> int:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    admin_key = secrets.token_urlsafe(24)
    started = time.monotonic()
    sandbox_processes = start_sandbox(data_dir, options.faults(), options.smtp_faults())
    sandbox = sandbox_processes.process
    server: DemoProcess | None = None
    worker: WorkerSide | None = None
    report = DemoReport(data_dir=str(data_dir))
    timeline: Timeline | None = None  # made when the workload starts: its time zero
    sampler: Sampler | None = None
    try:
        if report.check("the sandbox providers start", sandbox.wait_ready("/_sandbox/stats")):
            if options.kills:
                server = start_server(data_dir, admin_key=admin_key, sandbox=sandbox_processes, role="api")
                worker = WorkerSide(data_dir, server_env(data_dir, admin_key=admin_key, sandbox=sandbox_processes))
                started_ok = report.check("the API (`seawall api`) and the worker (`seawall worker`) start and are "
                                          "ready", server.wait_ready("/readyz") and worker.wait_ready())
            else:
                server = start_server(data_dir, admin_key=admin_key, sandbox=sandbox_processes)
                started_ok = report.check("the all-in-one server starts and is ready", server.wait_ready("/readyz"))
            if started_ok:
                if options.html is not None:
                    timeline = Timeline()
                    sampler = html_report.start_sampler(timeline, data_dir=data_dir, base_url=server.base_url,
                                                        admin_key=admin_key, worker=worker)
                try:
                    asyncio.run(_drive(options, report, server=server, sandbox=sandbox, admin_key=admin_key,
                                       console=console, timeline=timeline, worker=worker))
                finally:
                    if sampler is not None:
                        sampler.stop()
    finally:
        report.figures["cpu_seconds"] = {"server": server.cpu_seconds() if server else None,
                                         **({"workers": worker.cpu_seconds()} if worker else {}),
                                         "sandbox": sandbox.cpu_seconds(),
                                         "demo_client": round(time.process_time(), 1)}
        if server is not None and worker is not None:
            # At once, not one after the other: the API keeps its port open for SHUTDOWN_READINESS_DELAY first.
            with ThreadPoolExecutor(max_workers=2) as stopping:
                api_code, worker_code = stopping.submit(server.stop), stopping.submit(worker.stop)
                codes = {"api": api_code.result(), "worker": worker_code.result()}
            report.check("the API and the worker drain and exit cleanly on SIGTERM",
                         all(code == 0 for code in codes.values()), f"exit codes {codes}")
        elif server is not None:
            code = server.stop()
            report.check("the server drains and exits cleanly on SIGTERM", code == 0, f"exit code {code}")
        sandbox.stop()
    if server is not None and report.ok:
        doctor = run_doctor(data_dir)
        ledger = doctor.get("ledger", {})
        report.check("the ledger balances and agrees with the payments (seawall doctor)",
                     bool(ledger.get("ok")), f"{ledger.get('transactions', 0)} ledger transactions")
    report.figures["duration_seconds"] = round(time.monotonic() - started, 1)
    if not report.ok:
        report.figures["server_log_tail"] = ((server.log_tail() if server else sandbox.log_tail())
                                             + (worker.process.log_tail() if worker else ""))
    if options.html is not None:  # also when a process did not start: the checks say which
        html_report.write_report(options.html, report, timeline or Timeline())
    if options.as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(console, report)
    if options.html is not None:
        console.print(f"HTML report: {options.html}")
    if report.ok and not options.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if report.ok else 1


async def _drive(options: DemoOptions, report: DemoReport, *, server: DemoProcess, sandbox: DemoProcess,
                 admin_key: str, console: Console, timeline: Timeline | None = None,
                 worker: WorkerSide | None = None) -> None:
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer  # loaded only when the demo runs

    rng = random.Random(options.seed)
    users = workload.make_users(options.users, rng=rng, plans=sorted(PLANS), declined_share=options.declined_share)
    recorder = workload.Recorder(timeline=timeline)
    limits = httpx.Limits(max_connections=options.concurrency * 2)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0, limits=limits) as http,
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0,
                          headers={"Authorization": f"Bearer {admin_key}"}) as admin,
        httpx.AsyncClient(base_url=sandbox.base_url, timeout=30.0) as provider,
        WebhookReceiverServer(faults={"seed": options.seed, "error_503_rate": 0.05, "retry_after_seconds": 1}
                              ) as receiver,
    ):
        api = workload.ApiClient(http, recorder)
        subscribers = [await create_subscriber(api, receiver, index) for index in range(2)]
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        phases: list[tuple[str, float]] = []

        def phase(progress: Progress, name: str, total: float | None) -> TaskID:
            phases.append((name, time.monotonic()))
            return progress.add_task(name, total=total)

        with Progress(*columns, console=console, transient=options.as_json) as progress:
            task = phase(progress, "paid sign-ups, each followed by a login", len(users))
            killer = (WorkerKiller(worker, kills=options.kills, sign_ups=len(users), admin=admin, provider=provider,
                                   started=time.monotonic()) if worker is not None else None)
            killing = asyncio.create_task(killer.run()) if killer is not None else None
            outage_at = len(users) * 2 // 5
            done = 0

            def signed_up() -> None:
                nonlocal done
                done += 1
                progress.advance(task)
                if done == outage_at and options.outage_seconds > 0:
                    if timeline is not None:
                        now = time.time()
                        timeline.add_phase("provider outage", now, now + options.outage_seconds)
                    asyncio.get_running_loop().create_task(provider.post(
                        "/_sandbox/faults", json={**options.faults(), "outage_seconds": options.outage_seconds}))

            async def sign_up_and_log_in(user: workload.DemoUser) -> None:
                await workload.sign_up(api, user)
                await workload.log_in(api, user)

            await workload.run_concurrently(users, sign_up_and_log_in, concurrency=options.concurrency,
                                            on_done=signed_up)
            replays = [await api.call("POST", "/v1/signups", route="POST /v1/signups", headers={
                "Idempotency-Key": u.signup_key}, json={"email": u.email, "password": u.password, "plan": u.plan,
                                                          "payment_method": u.card}) for u in users[:5]]

            resets = users[: max(1, len(users) // 20)]
            task = phase(progress, "webhook subscribers' payments and password resets",
                         len(subscribers) + len(resets) + 1)

            async def reset(item: tuple[int, workload.DemoUser]) -> None:
                index, user = item
                await api.call("POST", "/v1/password-resets", route="POST /v1/password-resets",
                               json={"email": user.email}, headers={"Idempotency-Key": f"{user.signup_key}-r{index}"})

            async def reset_unknown() -> None:
                await api.call("POST", "/v1/password-resets", route="POST /v1/password-resets",
                               json={"email": f"nobody-{secrets.token_hex(3)}@example.com"},
                               headers={"Idempotency-Key": f"reset-unknown-{secrets.token_hex(3)}"})
                progress.advance(task)

            async def subscribers_pay() -> None:
                for subscriber in subscribers:
                    await pay(api, subscriber, count=10)
                    progress.advance(task)

            await asyncio.gather(
                subscribers_pay(), reset_unknown(),
                workload.run_concurrently(list(enumerate(resets)), reset, concurrency=options.concurrency,
                                          on_done=lambda: progress.advance(task)))

            task = phase(progress, "charging (worker)", None)
            await workload.wait_for_jobs(admin, timeout=120)
            # Those told their card was declined look at their payment (everyone's is checked at the end).
            declined = [u for u in users if u.card != "pm_card_visa"]
            await workload.run_concurrently(declined, lambda u: workload.load_payments(api, u),
                                            concurrency=options.concurrency)
            progress.update(task, total=1, completed=1)

            failed = [u for u in users if u.payments and u.payments[0]["status"] == "failed"]
            task = phase(progress, "retry failed sign-ups with another card", len(failed))

            async def pay_again(user: workload.DemoUser) -> None:
                await api.call("POST", "/v1/me/plan-payments", route="POST /v1/me/plan-payments",
                               headers={**workload.bearer(user), "Idempotency-Key": f"{user.signup_key}-retry"},
                               json={"payment_method": "pm_card_visa"})

            await workload.run_concurrently(failed, pay_again, concurrency=options.concurrency,
                                            on_done=lambda: progress.advance(task))
            await workload.wait_for_jobs(admin, timeout=120)

            # One user in ten asks for a refund, after looking up the payment.
            asking = [u for u in users if u.card == "pm_card_visa"][: max(1, len(users) // 10)]
            await workload.run_concurrently(asking, lambda u: workload.load_payments(api, u),
                                            concurrency=options.concurrency)
            refunds = [(u, p) for u in asking for p in u.payments if p["status"] == "succeeded"]
            task = phase(progress, "refunds", len(refunds))

            async def refund(item: tuple[workload.DemoUser, dict[str, Any]]) -> None:
                user, payment = item
                amount = payment["amount"] if user.index % 2 else payment["amount"] // 2
                await api.call("POST", f"/v1/payments/{payment['id']}/refunds", route="POST /v1/payments/{id}/refunds",
                               headers={**workload.bearer(user), "Idempotency-Key": f"refund-{payment['id']}"},
                               json={"amount": amount})

            await workload.run_concurrently(refunds, refund, concurrency=options.concurrency,
                                            on_done=lambda: progress.advance(task))
            if killing is not None and not killing.done():  # the moment to kill never came: say so, go on
                killing.cancel()
            kills = await _finish_kills(killer, killing)
            for subscriber in subscribers:
                await refund_some(api, subscriber)
            task = phase(progress, "settling and delivering", None)
            job_stats = await workload.wait_for_jobs(admin, timeout=120)
            await workload.run_concurrently([*users, *(s.user for s in subscribers)],
                                            lambda u: workload.load_payments(api, u),
                                            concurrency=options.concurrency)
            await workload.run_concurrently(users, lambda u: workload.load_notifications(api, u),
                                            concurrency=options.concurrency)
            progress.update(task, total=1, completed=1)
        phases.append(("end", time.monotonic()))
        report.figures["phase_seconds"] = {name: round(phases[i + 1][1] - start, 1)
                                           for i, (name, start) in enumerate(phases[:-1])}
        if timeline is not None:
            to_epoch = time.time() - time.monotonic()
            for (name, start), (_, end) in zip(phases, phases[1:], strict=False):
                timeline.add_phase(name, start + to_epoch, end + to_epoch)
        webhooks = webhook_findings(receiver, subscribers,
                                    {s.name: s.user.payments for s in subscribers})

        intents = (await provider.get("/_sandbox/payments/intents")).json()["data"]
        provider_refunds = (await provider.get("/_sandbox/payments/refunds")).json()["data"]
        sandbox_stats = (await provider.get("/_sandbox/stats")).json()
        mail = (await provider.get("/_sandbox/smtp/messages")).json()
        providers = (await admin.get("/admin/providers")).json()
        if worker is not None:  # the API makes no provider calls: the worker's breakers are the ones that decide
            providers["breaker_transitions"] = await asyncio.to_thread(worker.all_breaker_transitions)
    if killer is not None:
        _record_kills(report, kills, planned=options.kills, restart_failed=killer.restart_failed,
                      error=killer.error, timeline=timeline)
    build_report(report, users=users, recorder=recorder, replays=replays, job_stats=job_stats, intents=intents,
                 provider_refunds=provider_refunds, sandbox_stats=sandbox_stats, providers=providers,
                 webhooks=webhooks, mail=mail)


async def _finish_kills(killer: WorkerKiller | None, killing: asyncio.Task[None] | None) -> list[WorkerKill]:
    """The kills made, once every held job's next run is timed; a killer the admin API or the sandbox failed
    keeps its error (`killer.error`), which fails the kill check."""
    if killer is None or killing is None:
        return []
    try:
        await killing
    except asyncio.CancelledError:
        if not killing.cancelled():
            raise
    except httpx.HTTPError as exc:  # the admin API or the sandbox did not answer: the kill check fails
        killer.error = f"{type(exc).__name__}: {exc}"
    return await killer.finish()


def _record_kills(report: DemoReport, kills: list[WorkerKill], *, planned: int, restart_failed: bool,
                  error: str | None, timeline: Timeline | None) -> None:
    report.figures["worker_kills"] = [kill.as_dict() for kill in kills]
    report.check(f"the worker was killed with SIGKILL {planned}x while it held payment jobs, and restarted",
                 len(kills) == planned and not restart_failed and not error and all(k.held_payment_jobs for k in kills),
                 "; ".join([kill.summary() for kill in kills] + ([error] if error else []))
                 or "the moment to kill it never came")
    report.check("every job a killed worker held ran again (its lease expired; a new worker claimed it)",
                 bool(kills) and all(k.ran_again == k.held_jobs for k in kills),
                 ", ".join(f"{k.ran_again}/{k.held_jobs} within {k.rerun_seconds} s" for k in kills))
    if timeline is not None:
        for kill in kills:
            timeline.add_phase(f"worker pid {kill.pid} SIGKILLed → its jobs ran again", kill.epoch,
                               kill.epoch + (kill.rerun_seconds or 0.0))
