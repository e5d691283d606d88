"""Helpers the job-engine tests share: read job rows, wait for a state, drive workers.

Waiting is always "poll until the state is reached, with a generous deadline": never a fixed sleep
standing in for "long enough", so a loaded machine makes tests slower, not red.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import Job, JobAttempt, enqueue, repository
from seawall.jobs.worker import Worker
from tests.support.databases import _run_in_thread
from tests.support.server import REPO_ROOT, SeawallProcess, ServerFactory

T = TypeVar("T")

DEADLINE_SECONDS = 30.0
EFFECT = "tests.effect"


async def wait_until(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = DEADLINE_SECONDS, interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def enqueue_effect(database: Database, payload: dict[str, Any] | None = None, **options: Any) -> Job:
    async with database.transaction() as session:
        return await enqueue(session, EFFECT, payload or {}, **options)


async def load_job(database: Database, job_id: int) -> Job | None:
    async with database.transaction() as session:
        return await repository.get(session, job_id)


async def require_job(database: Database, job_id: int) -> Job:
    job = await load_job(database, job_id)
    assert job is not None, f"job {job_id} does not exist"
    return job


async def attempt_history(database: Database, job_id: int) -> list[JobAttempt]:
    async with database.transaction() as session:
        return await repository.attempts_of(session, job_id)


async def outcomes(database: Database, job_id: int) -> list[str]:
    return [attempt.outcome for attempt in await attempt_history(database, job_id)]


async def wait_for_status(database: Database, job_id: int, *statuses: str,
                          timeout: float = DEADLINE_SECONDS) -> Job:
    async def check() -> Job | None:
        job = await load_job(database, job_id)
        return job if job is not None and job.status in statuses else None

    return await wait_until(check, timeout=timeout, what=f"job {job_id} to be {'/'.join(statuses)}")


def in_process_worker(database: Database, settings: Settings, **options: Any) -> Worker:
    """A worker on the test queue only (no periodic maintenance jobs in the way)."""
    options.setdefault("queues", ["default"])
    return Worker(database=database, settings=settings, **options)


async def run_worker_until(worker: Worker, done: Callable[[], Awaitable[Any]],
                           *, timeout: float = DEADLINE_SECONDS) -> Any:
    """Run `worker.run()` (the production loop) until `done()` is truthy, then stop it and drain."""
    task = asyncio.create_task(worker.run())
    try:
        async def check() -> Any:
            if task.done():
                task.result()  # surface a crashed loop instead of waiting out the deadline
                raise AssertionError("worker stopped on its own")
            return await done()

        return await wait_until(check, timeout=timeout, what="the worker to reach the expected state")
    finally:
        worker.stop()
        await task


async def run_until_finished(database: Database, settings: Settings, job_id: int) -> Job:
    """Run a worker until the job is succeeded or dead. (`run_until_idle` returns while a retry
    is scheduled but not yet due, so tests with retries use the production loop instead.)"""

    async def finished() -> Job | None:
        job = await load_job(database, job_id)
        return job if job is not None and job.status in ("succeeded", "dead") else None

    result: Job = await run_worker_until(in_process_worker(database, settings), finished)
    return result


# -- real worker processes ----------------------------------------------------------------------------


def start_worker(servers: ServerFactory, *, env: dict[str, str] | None = None,
                 concurrency: int = 1) -> SeawallProcess:
    """`seawall worker` on the test queue. With concurrency 1 and a job running, the process touches
    the database only to renew its lease, which lets the tests stop it outside any transaction."""
    return servers.start("worker", env=env, args=["--queues", "default", "--concurrency", str(concurrency)])


def stop_all(processes: list[SeawallProcess], *, timeout: float = DEADLINE_SECONDS) -> list[int]:
    """SIGTERM every process at once (each takes a moment to exit), then collect the exit codes.
    Only one SIGTERM each: a second one during interpreter teardown would kill the process."""
    for process in processes:
        process.signal(signal.SIGTERM)
    return [process.process.wait(timeout=timeout) for process in processes]


def pid_of_worker_id(worker_id: str | None) -> int | None:
    """Worker ids are `host:pid:random`."""
    if not worker_id:
        return None
    return int(worker_id.rsplit(":", 2)[1])


async def wait_for_log(process: SeawallProcess, needle: str, *, timeout: float = DEADLINE_SECONDS) -> str:
    async def check() -> str | None:
        text = process.log()
        if needle in text:
            return text
        if process.process.poll() is not None:
            raise AssertionError(f"{process.role} exited with {process.process.returncode}:\n{text}")
        return None

    return await wait_until(check, timeout=timeout, interval=0.1, what=f"{needle!r} in the {process.role} log")


def postgres_transaction_open(url: str) -> bool:
    """True when another connection to the test database is inside a transaction."""
    async def probe() -> bool:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            count = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")
        finally:
            await connection.close()
        return bool(count)

    return _run_in_thread(probe)


def write_lock_is_free(database_path: Path) -> bool:
    """True when a writer can start a transaction now (nobody holds SQLite's write lock)."""
    connection = sqlite3.connect(database_path, timeout=1.0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def pause_outside_transaction(process: SeawallProcess, settings: Settings, *, tries: int = 20) -> None:
    """SIGSTOP a process, but never inside a transaction: on SQLite it would hold the write lock and
    stall every other process; on PostgreSQL its row locks would hide the job from SKIP LOCKED. Neither
    is the partition this test means to simulate."""
    for _ in range(tries):
        process.signal(signal.SIGSTOP)
        if settings.database_url:
            if not postgres_transaction_open(settings.resolved_database_url):
                return
        elif write_lock_is_free(settings.var_dir / "seawall.db"):
            return
        process.signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("could not pause the worker outside a write transaction")


def run_cli(settings: Settings, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`python -m seawall ARGS` against the test's database, as an operator would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    if settings.database_url:
        env["SEAWALL_DATABASE_URL"] = settings.resolved_database_url
    if settings.secret_key:
        env["SEAWALL_SECRET_KEY"] = settings.secret_key.get_secret_value()
    env.update(
        SEAWALL_VAR_DIR=str(settings.var_dir),
        SEAWALL_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return subprocess.run(
        [sys.executable, "-m", "seawall", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )


async def run_cli_async(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, settings, *args)
