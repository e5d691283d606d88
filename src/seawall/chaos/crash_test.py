"""`seawall chaos crash-test`: the classic job-queue crash test, run on Seawall.

The test job queues are compared by: `jobs` jobs (2,000 by default), each waiting 10 ms, INSERTing
its number into a table with no unique key and waiting 10 ms (`crash_test_jobs`), run by one real
`seawall worker` process that is SIGKILLed at 20 %, 45 % and 70 % of distinct progress (distinct
numbers present in the table; the kill waits, if need be, until the worker holds jobs, so each one
cuts work short) and restarted at once each time. Then it waits until every job is
finished and counts, in the table:
- lost: numbers never inserted (`jobs` − distinct numbers present);
- duplicated: inserts beyond the first of a number (rows − distinct numbers present).
On the same machine kind, the same test gave Celery with late acks 15 duplicates per 10 kills,
Dramatiq 78 per 10 kills, procrastinate 12 jobs stranded until a manual recovery, PgQueuer 191
duplicates over 3 kills (issue 14). Seawall's INSERT commits with the job's fenced completion, so
its answer must be 0 and 0.

Backends: `sqlite` (the embedded file, in a fresh var dir), `postgres` (a fresh database on the
given server, the table transport) and `rabbitmq` (a fresh PostgreSQL database and a fresh RabbitMQ
vhost, the broker transport); each scratch place is dropped afterwards (`bench.scratch`). The run
uses a short lease (`lease_seconds`, 2 s by default) so the jobs a kill interrupts come back quickly.

The seed draws the instant of each kill after its progress point is crossed (0 to 2 × `wait_ms`
later, so kills land anywhere in the jobs' lives) and, with `kills` instead of explicit points,
the points themselves (uniform in 10–90 %). Kill instants depend on timing as well: a seed makes a
run comparable, not identical.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import distinct, func, select

from seawall.bench.databases import postgres_server_url
from seawall.bench.scratch import fresh_broker_place, fresh_postgres_database
from seawall.bench.workers import worker_env
from seawall.chaos.crash_test_jobs import (
    CRASH_TEST_JOB,
    CRASH_TEST_MODULE,
    CRASH_TEST_QUEUE,
    crash_test_rows,
    metadata,
)
from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import JobStatus, enqueue
from seawall.jobs.models import AttemptOutcome, Job, JobAttempt

BACKENDS = ("sqlite", "postgres", "rabbitmq")
DEFAULT_KILL_AT = (0.20, 0.45, 0.70)
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"  # as `seawall chaos crash-test`'s
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"  # options default to
RANDOM_KILLS_RANGE = (0.10, 0.90)
SECRET_KEY = "crash-test-secret-key-not-for-production"
ENQUEUE_BATCH = 500
POLL_SECONDS = 0.02
STOP_TIMEOUT_SECONDS = 30.0
LOG_TAIL_CHARS = 2000
FINISHED = (JobStatus.SUCCEEDED, JobStatus.DEAD)


class CrashTestError(RuntimeError):
    """The run could not be carried out (a worker would not start, or exited on its own)."""


def random_kill_points(kills: int, seed: int) -> tuple[float, ...]:
    """`kills` progress fractions drawn with `seed`, uniform in 10–90 %, in increasing order."""
    rng = random.Random(seed)
    return tuple(sorted(round(rng.uniform(*RANDOM_KILLS_RANGE), 3) for _ in range(kills)))


@dataclass(frozen=True)
class CrashTestOptions:
    """One run. `kill_at`: fractions of distinct progress (0 < f < 1) at which the worker is killed;
    `lease_seconds`: the job lease for the run; `concurrency`: the worker's job slots; `wait_ms`: each
    job's wait before and after its INSERT; `timeout`: seconds the whole run may take before the jobs
    still unfinished are reported as stranded."""

    backend: str = "sqlite"
    jobs: int = 2000
    kill_at: tuple[float, ...] = DEFAULT_KILL_AT
    seed: int = 0
    lease_seconds: float = 2.0
    concurrency: int = 10
    wait_ms: int = 10
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str = DEFAULT_BROKER_URL
    timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        if any(not 0.0 < point < 1.0 for point in self.kill_at):
            raise ValueError("kill points are fractions of progress strictly between 0 and 1")


@dataclass
class CrashTestReport:
    """What the run found. `lost` and `duplicated` count rows of the crash-test table (see the module
    docstring); `unfinished`: jobs neither succeeded nor dead when the run ended (stranded); `dead`:
    jobs dead-lettered; `interrupted`: attempts a kill cut short (closed as `lease_expired`);
    `reruns`: attempts beyond each job's first;
    `kill_progress`: the distinct progress (0–1) seen at each kill; `seconds`: from the first worker's
    start to the last job finished."""

    backend: str
    jobs: int
    seed: int
    kill_at: list[float]
    lease_seconds: float
    concurrency: int
    kills: int = 0
    restarts: int = 0
    kill_progress: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rows: int = 0
    distinct: int = 0
    lost: int = 0
    duplicated: int = 0
    unfinished: int = 0
    dead: int = 0
    reruns: int = 0
    interrupted: int = 0

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.unfinished == 0 and self.dead == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


# -- the worker process ---------------------------------------------------------------------------


class WorkerProcess:
    """`seawall worker --queues default` as a real process, started again after each kill; its output
    goes to one log file whose tail is quoted when it fails."""

    def __init__(self, env: dict[str, str], *, concurrency: int, log_path: Path) -> None:
        self.argv = [sys.executable, "-m", "seawall", "worker", "--queues", CRASH_TEST_QUEUE,
                     "--concurrency", str(concurrency)]
        self.env = env
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 (closed in close())
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=self._log, stderr=self._log)

    @property
    def pid(self) -> int:
        assert self.process is not None, "start() first"
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            raise CrashTestError(f"the worker exited on its own ({self.process.returncode}){self.log_tail()}")

    async def kill(self) -> None:
        """SIGKILL: no drain, no release, nothing recorded; wait until it is gone."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM (the graceful drain), SIGKILL past `STOP_TIMEOUT_SECONDS`."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            await self.kill()

    def close(self) -> None:
        self._log.close()

    def log_tail(self) -> str:
        self._log.flush()
        tail = self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip()
        return f"; worker log:\n{tail}" if tail else ""


# -- the database side ------------------------------------------------------------------------------


async def _prepare(database: Database, options: CrashTestOptions) -> None:
    await database.migrate()
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    for start in range(0, options.jobs, ENQUEUE_BATCH):
        async with database.transaction() as session:
            for number in range(start, min(start + ENQUEUE_BATCH, options.jobs)):
                await enqueue(session, CRASH_TEST_JOB, {"n": number, "wait_ms": options.wait_ms})


async def _distinct_numbers(database: Database) -> int:
    async with database.read_transaction() as session:
        query = select(func.count(distinct(crash_test_rows.c.job_number)))
        return int((await session.execute(query)).scalar_one())


async def _unfinished_jobs(database: Database) -> int:
    async with database.read_transaction() as session:
        query = select(func.count()).select_from(Job).where(Job.kind == CRASH_TEST_JOB, Job.status.not_in(FINISHED))
        return int((await session.execute(query)).scalar_one())


async def _running_in(database: Database, pid: int) -> int:
    """Jobs leased by the worker with this pid (worker ids are `host:pid:random`)."""
    async with database.read_transaction() as session:
        query = select(func.count()).select_from(Job).where(
            Job.kind == CRASH_TEST_JOB, Job.status == JobStatus.RUNNING, Job.locked_by.like(f"%:{pid}:%"))
        return int((await session.execute(query)).scalar_one())


async def _count_outcome(database: Database, report: CrashTestReport) -> None:
    async with database.read_transaction() as session:
        rows, numbers = (await session.execute(select(
            func.count(), func.count(distinct(crash_test_rows.c.job_number))))).one()
        by_status = {str(status): int(count) for status, count in (await session.execute(
            select(Job.status, func.count()).where(Job.kind == CRASH_TEST_JOB).group_by(Job.status))).all()}
        reruns = (await session.execute(select(func.coalesce(func.sum(Job.attempts - 1), 0))
                                        .where(Job.kind == CRASH_TEST_JOB, Job.attempts > 1))).scalar_one()
        interrupted = (await session.execute(
            select(func.count()).select_from(JobAttempt).join(Job, Job.id == JobAttempt.job_id)
            .where(Job.kind == CRASH_TEST_JOB, JobAttempt.outcome == AttemptOutcome.LEASE_EXPIRED))).scalar_one()
    report.rows, report.distinct = int(rows), int(numbers)
    report.lost = report.jobs - report.distinct
    report.duplicated = report.rows - report.distinct
    report.dead = int(by_status.get(JobStatus.DEAD, 0))
    report.unfinished = sum(count for status, count in by_status.items() if status not in FINISHED)
    report.reruns = int(reruns)
    report.interrupted = int(interrupted)


# -- one run ----------------------------------------------------------------------------------------


@asynccontextmanager
async def _scratch_place(options: CrashTestOptions, var_dir: Path) -> AsyncIterator[dict[str, Any]]:
    """The run's settings (field name → value), on a database (and vhost) made for it and dropped after."""
    values: dict[str, Any] = {
        "var_dir": var_dir, "secret_key": SECRET_KEY, "log_level": "WARNING", "worker_queues": CRASH_TEST_QUEUE,
        "job_modules": CRASH_TEST_MODULE, "job_lease_seconds": options.lease_seconds,
        "job_poll_interval_seconds": 0.05, "metrics_enabled": False,
    }
    if options.backend == "sqlite":
        yield values
        return
    async with fresh_postgres_database(postgres_server_url(options.database_url), label="crashtest") as url:
        values["database_url"] = url
        if options.backend == "postgres":
            yield values
            return
        async with fresh_broker_place(options.broker_url, queues=[CRASH_TEST_QUEUE]) as place:
            values.update(broker_url=place.url, broker_queue_prefix=place.queue_prefix)
            yield values


async def _drive(worker: WorkerProcess, database: Database, options: CrashTestOptions,
                 report: CrashTestReport) -> None:
    """Start the worker, kill and restart it at each progress point, until every job is finished (or
    the timeout, leaving the rest counted as unfinished)."""
    rng = random.Random(options.seed)
    pending = [max(1, int(point * options.jobs)) for point in sorted(options.kill_at)]
    started = time.monotonic()
    deadline = started + options.timeout
    await worker.start()
    while time.monotonic() < deadline:
        worker.check_alive()
        numbers = await _distinct_numbers(database)
        if pending and numbers >= pending[0] and await _running_in(database, worker.pid):
            # Past the point, with jobs in flight: kill at a random instant of their lives, once the worker
            # still (or again) holds some.
            pending.pop(0)
            await asyncio.sleep(rng.uniform(0, 2 * options.wait_ms) / 1000)
            while not await _running_in(database, worker.pid) and time.monotonic() < deadline:
                worker.check_alive()
                await asyncio.sleep(POLL_SECONDS / 4)
            report.kill_progress.append(round(await _distinct_numbers(database) / options.jobs, 4))
            await worker.kill()
            report.kills += 1
            await worker.start()
            report.restarts += 1
            continue
        if numbers >= options.jobs and await _unfinished_jobs(database) == 0:
            break
        await asyncio.sleep(POLL_SECONDS)
    report.seconds = round(time.monotonic() - started, 3)


async def _run(options: CrashTestOptions, var_dir: Path) -> CrashTestReport:
    report = CrashTestReport(backend=options.backend, jobs=options.jobs, seed=options.seed,
                             kill_at=[round(point, 4) for point in sorted(options.kill_at)],
                             lease_seconds=options.lease_seconds, concurrency=options.concurrency)
    async with _scratch_place(options, var_dir) as values:
        database = Database(Settings(**values))
        worker = WorkerProcess(worker_env(os.environ, values), concurrency=options.concurrency,
                               log_path=var_dir / "worker.log")
        try:
            await _prepare(database, options)
            try:
                await _drive(worker, database, options, report)
            finally:
                await worker.stop()
            await _count_outcome(database, report)
        finally:
            worker.close()
            await database.dispose()
    return report


def run(options: CrashTestOptions) -> CrashTestReport:
    """One crash test (see the module docstring). Raises `CrashTestError` when a worker will not run,
    `OSError` or a driver error when a server is unreachable."""
    with tempfile.TemporaryDirectory(prefix="seawall-crash-test-") as directory:
        return asyncio.run(_run(options, Path(directory)))
