"""`seawall bench jobs`: the job engine's throughput as a ratio of its ceiling, measured in one run.

The ceiling is what the same database does with the same number of write transactions per job when
nothing but its own driver is involved (sqlite3 with Seawall's pragmas, or asyncpg): a job costs the
engine at least two commits (the claim, then the handler's writes with the completion). Seawall's
figure is jobs of a no-op kind enqueued in bulk and run by one in-process worker until idle. The
ratio (Seawall ÷ ceiling) is what to compare across machines and changes; absolute rates are noise
on a shared machine. CPU seconds per job are reported too (they do not depend on the disk).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from seawall.config import Settings
from seawall.jobs import JobContext
from seawall.jobs.outbox import enqueue
from seawall.jobs.registry import JobRegistry
from seawall.jobs.worker import Worker
from seawall.runtime import Runtime

BENCH_KIND = "bench.noop"
COMMITS_PER_JOB = 2  # claim; handler writes + completion
ENQUEUE_BATCH = 500


# A registry of its own: the benchmark's kind never reaches the registry real workers use.
bench_registry = JobRegistry()


@bench_registry.handler(BENCH_KIND, queue="bench", max_attempts=1)
async def _noop(_ctx: JobContext) -> None:
    return None


async def _seawall_rate(settings: Settings, jobs: int, concurrency: int) -> dict[str, float]:
    runtime = Runtime.build(settings)
    try:
        await runtime.database.migrate()
        for start in range(0, jobs, ENQUEUE_BATCH):
            async with runtime.database.transaction() as session:
                for _ in range(min(ENQUEUE_BATCH, jobs - start)):
                    await enqueue(session, BENCH_KIND, {}, registry=bench_registry)
        worker = Worker(database=runtime.database, settings=settings, queues=["bench"],
                        concurrency=concurrency, runtime=runtime, registry=bench_registry)
        wall, cpu = time.perf_counter(), time.process_time()
        await worker.run_until_idle()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await runtime.aclose()
    return {"jobs_per_second": jobs / wall, "cpu_ms_per_job": 1000 * cpu / jobs, "seconds": wall}


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


async def _postgres_commit_rate(url: str, commits: int) -> float:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TEMP TABLE bench_ceiling (id int PRIMARY KEY, n int)")
        await connection.execute("INSERT INTO bench_ceiling VALUES (1, 0)")
        started = time.perf_counter()
        for _ in range(commits):
            async with connection.transaction():
                await connection.execute("UPDATE bench_ceiling SET n = n + 1 WHERE id = 1")
        return commits / (time.perf_counter() - started)
    finally:
        await connection.close()


def _ceiling(settings: Settings, commits: int) -> float:
    if settings.is_embedded_database:
        return _sqlite_commit_rate(settings.var_dir / "ceiling.db", commits) / COMMITS_PER_JOB
    return asyncio.run(_postgres_commit_rate(settings.resolved_database_url, commits)) / COMMITS_PER_JOB



def run(*, jobs: int, concurrency: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seawall-bench-") as directory:
        settings = Settings(var_dir=Path(directory), database_url=database_url, worker_concurrency=concurrency,
                            secret_key="bench-secret-key-not-for-production", log_level="WARNING",
                            job_poll_interval_seconds=0.05)
        ceiling = _ceiling(settings, commits=min(jobs * COMMITS_PER_JOB, 4000))
        measured = asyncio.run(_seawall_rate(settings, jobs, concurrency))
    return {
        "database": "sqlite" if settings.is_embedded_database else "postgresql",
        "jobs": jobs, "concurrency": concurrency,
        "seawall_jobs_per_second": round(measured["jobs_per_second"], 1),
        "ceiling_jobs_per_second": round(ceiling, 1),
        "ratio_of_ceiling": round(measured["jobs_per_second"] / ceiling, 3),
        "cpu_ms_per_job": round(measured["cpu_ms_per_job"], 2),
    }
