"""`seawall bench write`: `POST /v1/payments` against a naive peer and the database's ceiling, in one run.

One fresh database serves the whole run (PostgreSQL: `seawall_bench_<random>` created on the given
server, migrated with `seawall migrate`, dropped at the end; default: an embedded SQLite file in a
temporary directory). In this order, each after a warm-up that is not counted:

1. Seawall: `seawall api [--workers N]` as a real process; one user signs up and logs in; closed-loop
   load (wrk, else Python) with a fresh `Idempotency-Key` per request for `duration` seconds;
2. half load: fixed-rate open-loop load at half of step 1's requests/s (Python; latency from each
   request's due time), same server;
3. the naive peer (`naive_app.py`) under uvicorn with the same process count and the same load;
4. the ceiling (`ceiling.py`): the same three INSERTs per transaction straight through the driver.

CPU per request is the user + system time of the server's processes (the supervisor and every
worker, `ProcessGroupMeter`) over the measured window only, divided by the responses in it; for the
ceiling it is this process's own (the driver; on SQLite also the engine). RSS is the largest serving
process's, read right after its measured pass. See docs/benchmarks.md for how to read the figures.

With a `timeline` (`--html`): the jobs table is counted by state every 0.5 s from this process
(`reports.probes.JobCountProbe`) from Seawall's start to the ceiling's end — every write of every
pass adds one job row that nothing runs, so its rate is the committed writes/s of each pass; each
measured pass is a phase (with its whole-pass p50/p95/p99 when wrk or the ceiling measured it, as
neither reports a time series); the Python generators also record every response's latency.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from seawall.bench import ceiling, load, pyload
from seawall.bench.databases import BenchDatabase
from seawall.bench.meter import ProcessGroupMeter
from seawall.cli.demo.processes import DemoProcess, clean_env, free_port
from seawall.config import Settings
from seawall.reports.probes import JobCountProbe
from seawall.reports.timeline import Sampler, Timeline

PAYMENT_BODY = {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa"}
RATE_LIMIT_SCALE = "100000"  # one loopback client drives all the load: lift every limit, keep the limiter
HALF_RATE_MAX_CONNECTIONS = 512
T = TypeVar("T")
REPORT_SOURCES = {  # what each chart of the `--html` report shows (reports.html.CHARTS)
    "chart-latency": "With the Python load generator, every response by the time it came (the half-rate pass "
                     "always: latency from each request's due time). wrk and the ceiling report one histogram per "
                     "pass: its p50/p95/p99 are drawn dashed across the pass.",
    "chart-queue-depth": "The jobs table counted by state every 0.5 s from the bench process. Nothing runs these "
                         "jobs (`seawall api` has no worker; the peer's and the ceiling's kinds have none), so "
                         "'queued' grows by one per committed write.",
    "chart-breaker": "POST /v1/payments makes no provider call (the charge is a job, not run in this bench): there "
                     "is no breaker to sample.",
    "chart-throughput": "jobs enqueued/s from the sampled jobs table: one job row per committed write, in every "
                        "pass (wrk's and the ceiling's included); with the Python generator also responses per "
                        "bucket.",
}


@dataclass(frozen=True)
class WriteBenchOptions:
    """Run shape. Seconds are wall time; `load_generator` is "auto" (wrk when on PATH), "wrk" or "python"."""

    api_workers: int = 2
    concurrency: int = 32
    duration: float = 10.0
    warmup: float = 2.0
    database_url: str | None = None
    load_generator: str = "auto"
    seawall_python: str = sys.executable  # another install's interpreter: measure that build (before/after)


@dataclass
class Measured:
    """One system's measured pass: the load result, the server's CPU seconds over the window, the largest
    serving process's RSS in MB, and how many processes the CPU was summed over (uvicorn's supervisor and
    multiprocessing's resource tracker included when N > 1)."""

    result: load.LoadResult
    cpu_seconds: float
    max_rss_mb: float
    processes: int

    def figures(self) -> dict[str, Any]:
        requests = self.result.requests
        return {
            "requests_per_second": round(self.result.requests_per_second, 1),
            "requests": requests,
            "seconds": round(self.result.seconds, 3),
            "p50_ms": _ms(self.result.percentile_ms(50)),
            "p95_ms": _ms(self.result.percentile_ms(95)),
            "p99_ms": _ms(self.result.percentile_ms(99)),
            "cpu_ms_per_request": round(1000 * self.cpu_seconds / requests, 3) if requests else None,
            "client_cpu_ms_per_request": (round(1000 * self.result.client_cpu_seconds / requests, 3)
                                          if requests and self.result.client_cpu_seconds is not None else None),
            "max_rss_mb": round(self.max_rss_mb, 1),
            "processes": self.processes,
            "non_2xx": self.result.non_2xx,
            "errors": self.result.errors,
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _generator(options: WriteBenchOptions) -> str:
    if options.load_generator == "auto":
        return "wrk" if load.wrk_path() else "python"
    return options.load_generator


def _closed_loop(target: load.PostTarget, *, generator: str, connections: int, seconds: float,
                 timeline: Timeline | None = None, series: str = "") -> load.LoadResult:
    if generator == "wrk":
        return load.run_wrk(target, connections=connections, seconds=seconds)
    return _run_async(pyload.closed_loop(target, connections=connections, seconds=seconds, timeline=timeline,
                                         series=series))


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the Python load generators on uvloop when installed: the client's CPU is shared with the servers'."""
    loop_factory = None
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine)


def _warm_up(target: load.PostTarget, *, generator: str, options: WriteBenchOptions) -> None:
    if options.warmup > 0:
        _closed_loop(target, generator=generator, connections=options.concurrency, seconds=options.warmup)


def _measure(pids: list[int], run: Callable[[], load.LoadResult], *, timeline: Timeline | None = None,
             phase: str = "") -> Measured:
    """`run()` with the group's CPU and RSS read around it; with a `timeline`, the pass is phase `phase`
    (carrying the pass's percentiles unless the Python generator recorded each response there)."""
    meter = ProcessGroupMeter(pids)
    started_at = time.time()
    before, own_cpu = meter.read(), time.process_time()
    result = run()
    after, own_cpu = meter.read(only_leaves=True), time.process_time() - own_cpu
    if timeline is not None:
        whole_pass = result.generator != "python" and result.histogram.get_total_count() > 0
        timeline.add_phase(phase, started_at, time.time(), {
            f"p{q}": result.percentile_ms(q) or 0.0 for q in (50, 95, 99)} if whole_pass else None)
    if result.client_cpu_seconds is None:  # the Python generators run in this process
        result.client_cpu_seconds = own_cpu
    return Measured(result=result, cpu_seconds=after.cpu_seconds_since(before), max_rss_mb=after.max_rss_mb,
                    processes=len(after.cpu_seconds))


def _start_seawall(directory: Path, database: BenchDatabase, workers: int, python: str,
                   settings: dict[str, str] | None = None) -> DemoProcess:
    """`settings`: more `SEAWALL_*` variables for this server (e.g. metrics off for `bench.metrics_cost`)."""
    # The process count goes by SEAWALL_WEB_WORKERS, which a build from before `--workers` ignores.
    env = clean_env({
        "SEAWALL_VAR_DIR": str(directory), "SEAWALL_SECRET_KEY": secrets.token_hex(32),
        "SEAWALL_WEB_WORKERS": str(workers),
        "SEAWALL_RATE_LIMIT_SCALE": RATE_LIMIT_SCALE, "SEAWALL_LOG_LEVEL": "WARNING",
        "SEAWALL_SHUTDOWN_READINESS_DELAY": "0",  # no load balancer: stop at once at the end
        **({"SEAWALL_DATABASE_URL": database.url} if database.url else {}),
        **(settings or {}),
    })
    if database.url is not None:  # the embedded file is migrated by `seawall api` itself
        subprocess.run([python, "-m", "seawall", "migrate"], env=env, check=True, capture_output=True,
                       timeout=120)
    api = DemoProcess.start("seawall-api", ["api"], port=free_port(), env=env, log_dir=directory, python=python)
    if not api.wait_ready("/readyz"):
        api.stop()
        raise RuntimeError(f"seawall api did not become ready:\n{api.log_tail()}")
    return api


def start_uvicorn(directory: Path, name: str, factory: str, *, workers: int, env: dict[str, str],
                  ready_path: str) -> DemoProcess:
    """A bench-only ASGI app (`module:factory`) under uvicorn on a free loopback port, with Seawall's
    event loop and HTTP parser, its log in `directory`; returned once `ready_path` answers 200."""
    port = free_port()
    log_path = directory / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), "--log-level", "warning", "--no-access-log", "--no-proxy-headers",
             *_server_options()],
            env=clean_env(env), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = DemoProcess(name=name, process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    if not server.wait_ready(ready_path):
        server.stop()
        raise RuntimeError(f"{name} did not become ready:\n{server.log_tail()}")
    return server


def _start_peer(directory: Path, database_url: str, user_id: str, workers: int) -> DemoProcess:
    return start_uvicorn(directory, "peer", "seawall.bench.naive_app:create_app", workers=workers, ready_path="/livez",
                         env={"SEAWALL_BENCH_PEER_DATABASE_URL": database_url, "SEAWALL_BENCH_PEER_USER_ID": user_id,
                              "SEAWALL_BENCH_PEER_POOL_SIZE": str(Settings.model_fields["database_pool_size"].default)})


def _server_options() -> list[str]:
    """uvicorn's event loop and HTTP parser as `seawall api` picks them (uvloop, httptools) when installed."""
    options = []
    if importlib.util.find_spec("uvloop") is not None:
        options += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools") is not None:
        options += ["--http", "httptools"]
    return options


def _sign_in(base_url: str) -> tuple[str, str]:
    """Sign one user up (no plan) and log in: (user id, bearer token)."""
    email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signup = client.post("/v1/signups", json={"email": email, "password": password},
                             headers={"Idempotency-Key": secrets.token_hex(8)})
        signup.raise_for_status()
        session = client.post("/v1/sessions", json={"email": email, "password": password})
        session.raise_for_status()
    return str(signup.json()["user"]["id"]), str(session.json()["token"])


def _ceiling(database: BenchDatabase, directory: Path, *, user_id: str, connections: int,
             seconds: float, timeline: Timeline | None = None) -> Measured:
    def run() -> load.LoadResult:
        if database.url is None:
            return ceiling.sqlite(directory / "seawall.db", user_id=user_id, seconds=seconds)
        return _run_async(ceiling.postgres(database.asyncpg_dsn, user_id=user_id, connections=connections,
                                            seconds=seconds))

    if database.url is None:  # the file's pages and WAL, as the servers' runs had them warm
        ceiling.sqlite(directory / "seawall.db", user_id=user_id, seconds=min(1.0, seconds))
    measured = _measure([os.getpid()], run, timeline=timeline, phase="ceiling")
    measured.result.client_cpu_seconds = None  # driver and client are one process, counted as the server
    return measured


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


def _start_sampler(timeline: Timeline | None, database: BenchDatabase, directory: Path) -> Sampler | None:
    """Sample the run's jobs table from now on (the chart's time zero), when a report was asked for."""
    if timeline is None:
        return None
    settings = Settings(var_dir=directory, database_url=database.url)
    timeline.started_at = time.time()
    sampler = Sampler(timeline, [JobCountProbe(settings)])
    sampler.start()
    return sampler


def run(options: WriteBenchOptions, *, timeline: Timeline | None = None) -> dict[str, Any]:
    """The whole run; returns every figure and the configuration as one JSON-ready dict. `timeline`:
    also record the run for the HTML report (see the module docstring)."""
    generator = _generator(options)
    body = json.dumps(PAYMENT_BODY)
    with tempfile.TemporaryDirectory(prefix="seawall-bench-write-") as temp, \
            BenchDatabase.create(options.database_url) as database:
        directory = Path(temp)
        api = _start_seawall(directory, database, options.api_workers, options.seawall_python)
        sampler = _start_sampler(timeline, database, directory)
        try:
            try:
                user_id, token = _sign_in(api.base_url)
                target = load.PostTarget(url=f"{api.base_url}/v1/payments", body=body, token=token)
                _warm_up(target, generator=generator, options=options)
                seawall = _measure([api.process.pid], lambda: _closed_loop(
                    target, generator=generator, connections=options.concurrency, seconds=options.duration,
                    timeline=timeline, series="seawall"), timeline=timeline, phase="seawall")
                half_rate = max(1.0, seawall.result.requests_per_second / 2)
                half = _measure([api.process.pid], lambda: _run_async(pyload.fixed_rate(
                    target, rate=half_rate, seconds=options.duration, max_connections=HALF_RATE_MAX_CONNECTIONS,
                    timeline=timeline, series="seawall, half rate")), timeline=timeline, phase="seawall, half rate")
            finally:
                api.stop()
            peer_process = _start_peer(directory, database.sqlalchemy_url(directory), user_id, options.api_workers)
            try:
                peer_target = load.PostTarget(url=f"{peer_process.base_url}/v1/payments", body=body)
                _warm_up(peer_target, generator=generator, options=options)
                peer = _measure([peer_process.process.pid], lambda: _closed_loop(
                    peer_target, generator=generator, connections=options.concurrency, seconds=options.duration,
                    timeline=timeline, series="naive peer"), timeline=timeline, phase="naive peer")
            finally:
                peer_process.stop()
            top = _ceiling(database, directory, user_id=user_id, connections=options.concurrency,
                           seconds=options.duration, timeline=timeline)
        finally:
            if sampler is not None:
                sampler.stop()
    seawall_rate = seawall.result.requests_per_second
    half_figures = half.figures()
    return {
        "config": {
            "database": database.kind, "database_name": database.name, "api_workers": options.api_workers,
            "seawall_python": options.seawall_python,
            "concurrency": options.concurrency,
            "duration_seconds": options.duration, "warmup_seconds": options.warmup, "load_generator": generator,
            "half_rate_generator": "python", "ceiling_driver": top.result.generator,
            "ceiling_connections": top.result.connections,
            "database_layout": "one fresh database for all three, run in the order seawall, peer, ceiling",
            "uvloop": importlib.util.find_spec("uvloop") is not None,
            "httptools": importlib.util.find_spec("httptools") is not None,
        },
        "seawall": seawall.figures(),
        "peer": peer.figures(),
        "ceiling": top.figures(),
        "ratios": {
            "seawall_to_peer": _ratio(seawall_rate, peer.result.requests_per_second),
            "seawall_to_ceiling": _ratio(seawall_rate, top.result.requests_per_second),
        },
        "half_rate": {"target_requests_per_second": round(half_rate, 1), **half_figures,
                      "max_connections": HALF_RATE_MAX_CONNECTIONS},
    }
