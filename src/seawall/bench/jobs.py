"""`seawall bench jobs`: the job engine's throughput and CPU per job, against a ceiling and a peer.

One run, on one machine:
1. Seawall. A fresh database (a new SQLite file, or a new database on the given PostgreSQL server,
   migrated, dropped afterwards) gets `jobs` no-op jobs of a private kind, enqueued in bulk; then
   `workers` worker processes (`job_worker seawall`, each a `Worker` with `concurrency` slots on
   queue "bench", with `broker_url` in a fresh RabbitMQ vhost when given) run until the parent sees
   every job succeeded.
2. The ceiling: what the same database does with the same number of write transactions per job
   (a job costs the engine at least two commits: the claim, then the handler's writes with the
   completion) through its own driver alone: one sqlite3 connection with Seawall's pragmas, or
   asyncpg with as many connections as the workers can use at once, each updating its own row.
3. With `peer="pgqueuer"`: PgQueuer, the same number of no-op jobs and worker processes, in a fresh
   database of its own on the same server (`pgqueuer_peer`).

Figures: jobs/s over the run window, which runs from the go signal (sent to every worker at once,
after each has started, imported and connected) to the parent's first poll (every `POLL_SECONDS`)
that sees no job left to run; CPU ms per job, user + system time summed over the worker processes
in that window (`meter.ProcessGroupMeter`, the parent's own polling left out); the largest worker's
RSS in MiB at the end of the window. The ratios (Seawall ÷ ceiling, Seawall ÷ PgQueuer) are what to
compare across machines and changes; absolute rates are noise on a shared machine.

With a `timeline` (`--html`), Seawall's jobs table is also sampled by state every 0.5 s during its
run (`reports.probes.JobCountProbe`, from this process), each run window is recorded as a phase,
and after the run every attempt's claim → completion time is read back from `job_attempts` (one
query, outside the window) as the latency series. PgQueuer's tables are not sampled.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select

from seawall.bench import broker_floor, pgqueuer_peer
from seawall.bench.scratch import asyncpg_dsn, fresh_broker_place, fresh_postgres_database
from seawall.bench.workers import BenchWorkerError, GroupFigures, WorkerGroup, worker_env
from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import JobContext, JobStatus
from seawall.jobs.models import Job, JobAttempt
from seawall.jobs.outbox import enqueue
from seawall.jobs.registry import JobRegistry
from seawall.reports.probes import JobCountProbe
from seawall.reports.timeline import LATENCY, Sampler, Timeline

BENCH_KIND = "bench.noop"
BENCH_QUEUE = "bench"
COMMITS_PER_JOB = 2  # claim; handler writes + completion
CEILING_MAX_COMMITS = 4000
FLOOR_MAX_MESSAGES = 4000  # aio-pika alone, for the RabbitMQ transport's floor (broker_floor)
ENQUEUE_BATCH = 500
POLL_SECONDS = 0.02
READY_TIMEOUT_SECONDS = 120.0
SECRET_KEY = "bench-secret-key-not-for-production"

REPORT_SOURCES = {  # what each chart of the `--html` report shows (reports.html.CHARTS)
    "chart-latency": "Each bench job attempt's claim → completion time, read back from job_attempts after the run, "
                     "by the time it completed (Seawall only).",
    "chart-queue-depth": "Seawall's jobs table counted by state every 0.5 s from the bench process (the query "
                         "behind GET /admin/jobs/stats); PgQueuer's queue is not sampled.",
    "chart-breaker": "No provider is called in this bench (no-op jobs): there is no breaker to sample.",
    "chart-throughput": "Attempts completed per bucket, and jobs succeeded/s from the sampled jobs-table counts.",
}

# A registry of its own: the benchmark's kind never reaches the registry real workers use.
bench_registry = JobRegistry()


@bench_registry.handler(BENCH_KIND, queue=BENCH_QUEUE, max_attempts=1)
async def _noop(_ctx: JobContext) -> None:
    return None


# -- running worker processes until the work is done --------------------------------------------


async def _run_group(group: WorkerGroup, *, remaining: Callable[[], Awaitable[int]], timeout: float,
                     timeline: Timeline | None = None, phase: str = "",
                     before_go: Callable[[], None] | None = None) -> GroupFigures:
    """Start the group, call `before_go`, release it, poll `remaining()` until 0, measure, then stop the
    group (with a `timeline`, the window from go to measure is its phase `phase`)."""
    try:
        await group.start(timeout=READY_TIMEOUT_SECONDS)
        if before_go is not None:
            before_go()
        went_at = time.time()
        await group.go()
        deadline = time.monotonic() + timeout
        while await remaining() > 0:
            group.check_alive()
            if time.monotonic() > deadline:
                raise BenchWorkerError(f"jobs still unfinished after {timeout:.0f} s")
            await asyncio.sleep(POLL_SECONDS)
        measured = group.measure()
        if timeline is not None:
            timeline.add_phase(phase, went_at, time.time())
        return measured
    finally:
        await group.stop()


def _figures(jobs: int, measured: GroupFigures) -> dict[str, float]:
    return {"jobs_per_second": jobs / measured.seconds, "cpu_ms_per_job": 1000 * measured.cpu_seconds / jobs,
            "worker_rss_mb": measured.max_rss_mb, "seconds": measured.seconds}


# -- Seawall ----------------------------------------------------------------------------------


async def _enqueue_bench_jobs(database: Database, jobs: int) -> None:
    for start in range(0, jobs, ENQUEUE_BATCH):
        async with database.transaction() as session:
            for _ in range(min(ENQUEUE_BATCH, jobs - start)):
                await enqueue(session, BENCH_KIND, {}, registry=bench_registry)


async def _count(database: Database, statuses: list[str], *, published: bool = False) -> int:
    """Bench jobs in one of `statuses` (with `published`: only those the relay had the broker confirm)."""
    async with database.transaction() as session:
        query = select(func.count()).select_from(Job).where(Job.queue == BENCH_QUEUE, Job.status.in_(statuses))
        if published:
            query = query.where(Job.published_at.is_not(None))
        return int((await session.execute(query)).scalar_one())


async def _record_attempts(database: Database, timeline: Timeline) -> None:
    """Each finished attempt of a bench job: claim → completion seconds, at its completion."""
    async with database.read_transaction() as session:
        rows = await session.execute(
            select(JobAttempt.started_at, JobAttempt.finished_at).join(Job, Job.id == JobAttempt.job_id)
            .where(Job.queue == BENCH_QUEUE, JobAttempt.finished_at.is_not(None)))
        for started_at, finished_at in rows.all():
            if finished_at is None:  # excluded above; for the type checker
                continue
            timeline.add(LATENCY, "job attempt, claim → completion", (finished_at - started_at).total_seconds(),
                         at=finished_at.timestamp())


async def _seawall_run(values: dict[str, Any], *, jobs: int, workers: int, timeout: float,
                       timeline: Timeline | None = None) -> dict[str, float]:
    """Run the Seawall side with settings `values` (field name → value) in the parent and workers.

    Returns `_figures()` plus `published`: how many jobs the relay published to the broker."""
    database = Database(Settings(**values))
    sampler = Sampler(timeline, [JobCountProbe(Settings(**values))]) if timeline is not None else None

    def start_sampling() -> None:  # the workers are up: the chart's time zero
        if sampler is not None:
            sampler.timeline.started_at = time.time()
            sampler.start()

    try:
        await database.migrate()
        await _enqueue_bench_jobs(database, jobs)
        group = WorkerGroup(["seawall"], count=workers, env=worker_env(os.environ, values))
        try:
            measured = await _run_group(group, timeout=timeout, timeline=timeline, phase="seawall workers",
                                        before_go=start_sampling,
                                        remaining=lambda: _count(database, [JobStatus.QUEUED, JobStatus.RUNNING]))
        finally:
            if sampler is not None:
                await asyncio.to_thread(sampler.stop)
        succeeded = await _count(database, [JobStatus.SUCCEEDED])
        published = await _count(database, [JobStatus.SUCCEEDED], published=True)
        if timeline is not None:
            await _record_attempts(database, timeline)
    finally:
        await database.dispose()
    if succeeded != jobs:
        raise BenchWorkerError(f"only {succeeded} of {jobs} Seawall jobs succeeded")
    return {**_figures(jobs, measured), "published": published}


# -- PgQueuer ---------------------------------------------------------------------------------


async def _pgqueuer_run(server_url: str, *, jobs: int, workers: int, batch_size: int,
                        timeout: float, timeline: Timeline | None = None) -> dict[str, float]:
    async with fresh_postgres_database(server_url, label="pgqueuer") as url:
        await pgqueuer_peer.prepare(url, jobs=jobs)
        progress = pgqueuer_peer.Progress(url)
        await progress.open()
        try:
            group = WorkerGroup(["pgqueuer", "--dsn", asyncpg_dsn(url), "--batch-size", str(batch_size)],
                                count=workers, env=worker_env(os.environ, {}))
            measured = await _run_group(group, remaining=progress.remaining, timeout=timeout, timeline=timeline,
                                        phase="pgqueuer workers")
            succeeded = await progress.succeeded()
        finally:
            await progress.close()
    if succeeded != jobs:
        raise BenchWorkerError(f"only {succeeded} of {jobs} PgQueuer jobs were logged successful")
    return _figures(jobs, measured)


# -- the ceiling ------------------------------------------------------------------------------


def _sqlite_commit_rate(path: Path, commits: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("CREATE TABLE IF NOT EXISTS bench_ceiling (id INTEGER PRIMARY KEY, n INTEGER)")
        connection.execute("INSERT OR REPLACE INTO bench_ceiling (id, n) VALUES (1, 0)")
        started = time.perf_counter()
        for _ in range(commits):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE bench_ceiling SET n = n + 1 WHERE id = 1")
            connection.execute("COMMIT")
        return commits / (time.perf_counter() - started)
    finally:
        connection.close()


async def _postgres_commit_rate(url: str, commits: int, connections: int) -> float:
    """Commits/s of `connections` asyncpg connections, each committing updates of its own row."""
    dsn = asyncpg_dsn(url)
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute("CREATE TABLE bench_ceiling (id int PRIMARY KEY, n int)")
        await setup.execute("INSERT INTO bench_ceiling SELECT g, 0 FROM generate_series(1, $1) g", connections)
    finally:
        await setup.close()
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    each = max(1, commits // connections)

    async def commit_many(row: int) -> None:
        async with pool.acquire() as connection:
            for _ in range(each):
                async with connection.transaction():
                    await connection.execute("UPDATE bench_ceiling SET n = n + 1 WHERE id = $1", row)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(commit_many(row) for row in range(1, connections + 1)))
        return each * connections / (time.perf_counter() - started)
    finally:
        await pool.close()


# -- one run ----------------------------------------------------------------------------------


async def _run(*, jobs: int, workers: int, concurrency: int, database_url: str | None, broker_url: str | None,
               peer: str | None, peer_batch_size: int, timeout: float, var_dir: Path,
               timeline: Timeline | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "var_dir": var_dir, "secret_key": SECRET_KEY, "log_level": "WARNING", "worker_queues": BENCH_QUEUE,
        "worker_concurrency": concurrency, "job_poll_interval_seconds": 0.05,
    }
    commits = min(jobs * COMMITS_PER_JOB, CEILING_MAX_COMMITS)
    transport = "rabbitmq" if broker_url else "database"
    if database_url is None:
        ceiling_connections = 1
        ceiling = _sqlite_commit_rate(var_dir / "ceiling.db", commits) / COMMITS_PER_JOB
        seawall = await _seawall_run(values, jobs=jobs, workers=workers, timeout=timeout, timeline=timeline)
    else:
        pool_size = Settings(database_url=database_url).database_pool_size
        ceiling_connections = workers * min(concurrency, pool_size)
        async with fresh_postgres_database(database_url, label="seawall") as url:
            values["database_url"] = url
            ceiling = await _postgres_commit_rate(url, commits, ceiling_connections) / COMMITS_PER_JOB
            if broker_url is None:
                seawall = await _seawall_run(values, jobs=jobs, workers=workers, timeout=timeout, timeline=timeline)
            else:
                async with fresh_broker_place(broker_url, queues=[BENCH_QUEUE]) as place:
                    values.update(broker_url=place.url, broker_queue_prefix=place.queue_prefix)
                    seawall = await _seawall_run(values, jobs=jobs, workers=workers, timeout=timeout,
                                                 timeline=timeline)
                    floor = await broker_floor.measure(place.url, queue=f"{place.queue_prefix}floor",
                                                       messages=min(jobs, FLOOR_MAX_MESSAGES), prefetch=concurrency)
    report: dict[str, Any] = {
        "database": "sqlite" if database_url is None else "postgresql", "transport": transport,
        "jobs": jobs, "workers": workers, "concurrency": concurrency,
        "seawall_jobs_per_second": round(seawall["jobs_per_second"], 1),
        "seconds": round(seawall["seconds"], 3),
        "cpu_ms_per_job": round(seawall["cpu_ms_per_job"], 3),
        "worker_rss_mb": round(seawall["worker_rss_mb"], 1),
        "ceiling_jobs_per_second": round(ceiling, 1),
        "ceiling_connections": ceiling_connections,
        "ratio_of_ceiling": round(seawall["jobs_per_second"] / ceiling, 3),
    }
    if broker_url:
        report["broker_published_jobs"] = int(seawall["published"])  # went through RabbitMQ, not the table
        report["broker_floor_cpu_ms_per_message"] = round(floor["cpu_ms_per_message"], 3)
        report["broker_floor_messages_per_second"] = round(floor["messages_per_second"], 1)
    if peer == "pgqueuer":
        assert database_url is not None
        measured = await _pgqueuer_run(database_url, jobs=jobs, workers=workers, batch_size=peer_batch_size,
                                       timeout=timeout, timeline=timeline)
        report.update({
            "peer": "pgqueuer", "peer_batch_size": peer_batch_size,
            "pgqueuer_jobs_per_second": round(measured["jobs_per_second"], 1),
            "pgqueuer_cpu_ms_per_job": round(measured["cpu_ms_per_job"], 3),
            "pgqueuer_worker_rss_mb": round(measured["worker_rss_mb"], 1),
            "ratio_of_pgqueuer": round(seawall["jobs_per_second"] / measured["jobs_per_second"], 3),
        })
    return report


def run(*, jobs: int, workers: int = 1, concurrency: int = 16, database_url: str | None = None,
        broker_url: str | None = None, peer: str | None = None, peer_batch_size: int = 10,
        timeout: float = 600.0, timeline: Timeline | None = None) -> dict[str, Any]:
    """One bench run (see the module docstring); returns the report as one flat dict of figures.

    `database_url`: a PostgreSQL server (a fresh database is made on it), or None for a fresh SQLite
    file. `broker_url` and `peer="pgqueuer"` need `database_url`. `timeout`: seconds each side may
    take to run its jobs. `timeline`: also record the run for the HTML report (see the module docstring).
    """
    if (broker_url or peer) and database_url is None:
        raise ValueError("--broker-url and --peer need a PostgreSQL --database-url")
    with tempfile.TemporaryDirectory(prefix="seawall-bench-") as directory:
        return asyncio.run(_run(jobs=jobs, workers=workers, concurrency=concurrency, database_url=database_url,
                                broker_url=broker_url, peer=peer, peer_batch_size=peer_batch_size,
                                timeout=timeout, var_dir=Path(directory), timeline=timeline))
