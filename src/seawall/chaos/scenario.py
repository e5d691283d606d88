"""`seawall chaos`: the main scenario. Real processes, real traffic, random SIGKILLs, then every promise
checked against the providers' own records.

1. A fresh place (`places.chaos_place`): the embedded SQLite file, or server mode on scratch names
   on the machine's servers, or (`--infra`) private PostgreSQL + Redis + RabbitMQ that may be
   restarted.
2. `seawall sandbox` with provider faults (`error_rate` split over 500/503/429, lost responses),
   `apis` × `seawall api` and `workers` × `seawall worker` (`processes.Fleet`), and an in-process
   webhook receiver for the subscribers.
3. Traffic (`workload.drive_traffic`) over every API while the seeded schedule (`kills.plan_disruptions`)
   SIGKILLs processes of each role and restarts the private servers; a supervisor restarts every
   process that is down (ours, or a worker a crash point killed) within a fraction of a second.
4. Once the schedule is done and the traffic has finished, wait until no job is pending (bounded),
   gather the history (`evidence`) and check it (`invariants.check`).

The seed is printed first (stderr) and in the report's replay line: the same seed gives the same
workload, the same faults at the sandbox and the same kill and restart schedule.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.chaos import evidence, invariants
from seawall.chaos.infra import InfraError
from seawall.chaos.kills import ROLES, SERVERS, Disruption, plan_disruptions
from seawall.chaos.places import Place, chaos_place
from seawall.chaos.processes import Fleet
from seawall.chaos.report import ChaosReport
from seawall.chaos.workload import Traffic, TrafficShape, client, drive_traffic, set_up_subscribers
from seawall.cli.demo.processes import Sandbox, server_env, start_sandbox
from seawall.cli.demo.run import DemoOptions
from seawall.db import Database
from seawall.errors import SeawallError
from seawall.kit.urls import redacted_url

KILL_WAIT_SECONDS = 60.0  # a kill waits this long for a process of its role to be up (slow on a busy machine)
START_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ChaosOptions:
    embedded: bool = False
    infra: bool = False
    apis: int = 2
    workers: int = 2
    kills: int = 20
    duration: float = 30.0  # seconds of load over which the kills (and restarts) are spread
    users: int = 24
    subscribers: int = 2
    concurrency: int = 8
    error_rate: float = 0.2  # provider 500/503/429, split in three
    lost_response_rate: float = 0.02
    crash_points: str = ""  # SEAWALL_CRASH_POINTS for the workers, e.g. "*=0.02"
    lease_seconds: float = 3.0
    settle_timeout: float = 240.0
    seed: int | None = None
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    keep: bool = False
    server_env: dict[str, str] = field(default_factory=dict)  # more SEAWALL_* settings for every process

    @property
    def mode(self) -> str:
        return "embedded" if self.embedded else "private" if self.infra else "server"

    def replay(self, seed: int) -> str:
        parts = ["seawall chaos", f"--seed {seed}", f"--kills {self.kills}", f"--duration {self.duration:g}",
                 f"--apis {self.apis}", f"--workers {self.workers}", f"--users {self.users}",
                 f"--error-rate {self.error_rate:g}", f"--lease-seconds {self.lease_seconds:g}"]
        parts += [f"--subscribers {self.subscribers}", f"--concurrency {self.concurrency}",
                  f"--lost-response-rate {self.lost_response_rate:g}", f"--settle-timeout {self.settle_timeout:g}"]
        parts += ["--embedded"] if self.embedded else []
        parts += ["--infra"] if self.infra else []
        defaults = ChaosOptions()
        if not self.embedded and not self.infra:  # the servers it ran on, when not the defaults (no password)
            for option, value, default in (("--database-url", self.database_url, defaults.database_url),
                                           ("--redis-url", self.redis_url, defaults.redis_url),
                                           ("--broker-url", self.broker_url, defaults.broker_url)):
                if value != default:
                    parts.append(f"{option} '{redacted_url(value)}'")
        parts += [f"--crash-points '{self.crash_points}'"] if self.crash_points else []
        return " ".join(parts)


def _tuning(options: ChaosOptions) -> dict[str, str]:
    """Settings for a short, busy run: short leases so a killed worker's jobs come back in seconds."""
    return {
        "SEAWALL_JOB_LEASE_SECONDS": f"{options.lease_seconds:g}",
        "SEAWALL_SHUTDOWN_TIMEOUT": "3",
        "SEAWALL_SHUTDOWN_READINESS_DELAY": "0",  # no load balancer to tell: stop at once at the end
        "SEAWALL_JOB_BACKOFF_CAP_SECONDS": "2",
        "SEAWALL_WORKER_CONCURRENCY": "8",
        "SEAWALL_DATABASE_POOL_SIZE": "10",
        "SEAWALL_RETRY_BUDGET_CAPACITY": "1000000",  # 20 % faults are the point: do not ration the retries
        **options.server_env,
    }


def run_chaos(options: ChaosOptions, *, announce: Any = None) -> ChaosReport:
    """Run the scenario; the report (its `ok` is False on any violation or problem). `announce(text)`
    is called with the seed line before anything starts."""
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    if announce is not None:
        announce(f"seawall chaos: seed {seed} (replay: {options.replay(seed)})")
    root = Path(tempfile.mkdtemp(prefix="seawall-chaos-"))
    report = ChaosReport(replay=options.replay(seed), seed=seed, mode=options.mode)
    started = time.monotonic()
    try:
        asyncio.run(_run(options, seed, root, report))
    except (ValueError, OSError, SeawallError, InfraError) as exc:  # a setting or a server: one line
        report.problems.append(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # the run itself broke: say so in the report, never as a pass
        report.problems.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
    report.figures["duration_seconds"] = round(time.monotonic() - started, 1)
    nothing_to_read = not any(root.glob("*.log"))  # it broke before any process started
    if (report.ok or nothing_to_read) and not options.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        report.figures["run_directory"] = str(root)
    return report


async def _run(options: ChaosOptions, seed: int, root: Path, report: ChaosReport) -> None:
    async with chaos_place(mode=options.mode, var_dir=root / "var", database_url=options.database_url,
                           redis_url=options.redis_url, broker_url=options.broker_url) as place:
        faults = DemoOptions(error_rate=options.error_rate, lost_response_rate=options.lost_response_rate,
                             hang_rate=0.0, seed=seed)
        sandbox = start_sandbox(root, faults.faults(), faults.smtp_faults())
        try:
            if not await asyncio.to_thread(sandbox.process.wait_ready, "/_sandbox/stats"):
                raise RuntimeError(f"the sandbox did not start:\n{sandbox.process.log_tail()}")
            await _with_sandbox(options, seed, root, place, sandbox, report)
        finally:
            await asyncio.to_thread(sandbox.process.stop)


async def _with_sandbox(options: ChaosOptions, seed: int, root: Path, place: Place, sandbox: Sandbox,
                        report: ChaosReport) -> None:
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer  # the sandbox only where a command runs

    env = server_env(root, admin_key=secrets.token_urlsafe(24), sandbox=sandbox,
                     extra_env={**place.env, **_tuning(options)})
    worker_env = {"SEAWALL_CRASH_POINTS": options.crash_points, "SEAWALL_CRASH_SEED": str(seed)} \
        if options.crash_points else {}
    fleet = Fleet.build(apis=options.apis, workers=options.workers, env=env, log_dir=root, worker_env=worker_env)
    schedule = plan_disruptions(seed=seed, kills=options.kills, duration=options.duration, roles=ROLES,
                                servers=SERVERS if place.servers is not None else ())
    report.figures.update(mode=options.mode, apis=options.apis, workers=options.workers,
                          schedule=[d.as_dict() for d in schedule])
    database = Database(place.settings())
    try:
        phase = time.monotonic()
        down = await asyncio.to_thread(fleet.start, timeout=START_TIMEOUT_SECONDS)
        report.figures["start_seconds"] = round(time.monotonic() - phase, 1)
        if down:
            raise RuntimeError(f"{', '.join(down)} did not come up:\n{fleet.log_tails()}")
        async with WebhookReceiverServer() as receiver:
            traffic = Traffic()
            http, api = client(fleet.api_urls, concurrency=options.concurrency, recorder=traffic.recorder)
            try:
                await set_up_subscribers(api, receiver, traffic, options.subscribers)
                phase = time.monotonic()
                await _under_fire(options, seed, place, fleet, api, traffic, schedule, report)
                report.figures["under_fire_seconds"] = round(time.monotonic() - phase, 1)
                settle_started = time.monotonic()

                async def revive() -> None:
                    await asyncio.to_thread(fleet.revive)

                quiet = await evidence.wait_until_quiet(database, timeout=options.settle_timeout, on_poll=revive)
                report.figures["settle_seconds"] = round(time.monotonic() - settle_started, 1)
                if not quiet:
                    report.problems.append(f"jobs still pending after {options.settle_timeout:g} s "
                                           "(listed as lost work below)")
                history, seen = await evidence.gather_history(database, traffic=traffic,
                                                              sandbox_url=sandbox.process.base_url, receiver=receiver)
            finally:
                await http.aclose()
        report.violations = invariants.check(history)
        report.figures.update(seen, **await evidence.job_figures(database))
        _traffic_figures(report, traffic, history)
        report.figures["unexpected_answers"] = api.unexpected[:50]
    finally:
        await database.dispose()
        phase = time.monotonic()
        report.figures["exit_codes_on_sigterm"] = await asyncio.to_thread(fleet.stop)
        report.figures["stop_seconds"] = round(time.monotonic() - phase, 1)
        report.figures.update(kills=dict(fleet.kills), process_restarts=fleet.restarts,
                              crash_exits=fleet.crash_exits, exits_not_ours=fleet.exits[:50])
        if not report.ok:
            report.figures["log_tails"] = fleet.log_tails()


async def _under_fire(options: ChaosOptions, seed: int, place: Place, fleet: Fleet, api: Any, traffic: Traffic,
                      schedule: list[Disruption], report: ChaosReport) -> None:
    """The traffic, while the schedule runs and a supervisor restarts whatever is down."""
    done = asyncio.Event()
    shape = TrafficShape(users=options.users, subscribers=options.subscribers, concurrency=options.concurrency,
                         seed=seed)
    traffic_task = asyncio.create_task(drive_traffic(api, traffic, shape, until=done))

    async def supervise() -> None:
        while not done.is_set():
            await asyncio.to_thread(fleet.revive)
            await asyncio.sleep(0.25)

    supervisor = asyncio.create_task(supervise())
    restarts: list[dict[str, Any]] = []
    skipped: list[str] = []
    start = time.monotonic()

    async def restart(server: str) -> None:  # kills go on while the server is down
        assert place.servers is not None
        at = round(time.monotonic() - start, 1)
        down = await asyncio.to_thread(place.servers.restart, server, down_seconds=1.0)
        restarts.append({"server": server, "at": at, "down_seconds": round(down, 2)})

    restarting: list[asyncio.Task[None]] = []
    try:
        for disruption in schedule:
            await asyncio.sleep(max(0.0, start + disruption.at - time.monotonic()))
            if disruption.kind == "restart":
                restarting.append(asyncio.create_task(restart(disruption.target)))
            elif not await _kill(fleet, disruption):
                skipped.append(f"kill {disruption.target} at {disruption.at:.1f} s: none of them came up")
        await asyncio.gather(*restarting)
    except BaseException:
        traffic_task.cancel()
        raise
    finally:
        done.set()
        await supervisor
        await asyncio.to_thread(fleet.revive)
    await traffic_task
    report.figures["server_restarts"] = sorted(restarts, key=lambda r: float(r["at"]))
    if skipped:
        report.problems.extend(skipped)


async def _kill(fleet: Fleet, disruption: Disruption) -> bool:
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline:
        if await asyncio.to_thread(fleet.kill, disruption.target, disruption.pick) is not None:
            return True
        await asyncio.sleep(0.2)
    return False


def _traffic_figures(report: ChaosReport, traffic: Traffic, history: invariants.History) -> None:
    recorder = traffic.recorder
    statuses: dict[str, int] = {}
    for payment in history.payments.values():
        statuses[payment.status] = statuses.get(payment.status, 0) + 1
    report.figures.update(
        requests={"answered": recorder.requests, "transport_errors": recorder.transport_errors,
                  "client_retries": recorder.client_retries,
                  "by_status": {str(k): v for k, v in sorted(recorder.statuses.items())},
                  "given_up": len(traffic.failed_requests), "given_up_examples": traffic.failed_requests[:5]},
        accepted={"signups": len(history.signup_user_ids), "payments": len(history.payment_ids),
                  "refunds": len(history.refund_ids), "resets": traffic.resets_accepted},
        payments_by_status=statuses, subscriber_rounds=traffic.rounds,
        redeliveries=invariants.redeliveries(history),
        webhook_events_delivered=int(history.webhooks.get("events_delivered", 0)),
        dead_lettered=[f"{j.kind} {j.payload}: {(j.last_error or '')[:120]}" for j in history.jobs
                       if j.status == "dead"][:20],
    )


def print_seed(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
