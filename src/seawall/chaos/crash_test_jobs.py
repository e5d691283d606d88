"""The crash test's job kind and its table: what `seawall chaos crash-test` makes the worker run.

The classic job-queue crash test (the one Celery, Dramatiq, procrastinate and PgQueuer are judged by):
each job waits `wait_ms` (10 ms by default), INSERTs its number into `chaos_crash_test_rows`, a table
with NO unique key, and waits `wait_ms` again. A row that is never inserted is lost work; a number
inserted twice is a duplicated effect. The INSERT goes through `ctx.session`, as every Seawall
handler writes, so it commits in the same transaction as the job's fenced completion: the engine's
answer to "the process died after the effect but before the ack".

Loaded by the worker process through `SEAWALL_JOB_MODULES=seawall.chaos.crash_test_jobs`. The kind
runs on the `default` queue (nothing else of Seawall's is queued there, and the crash test's
database is its own), so `seawall worker --queues default` runs it.
"""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import Column, Integer, MetaData, Table

from seawall.jobs import JobContext, job_handler

CRASH_TEST_JOB = "chaos.crash_test_insert"
CRASH_TEST_QUEUE = "default"
CRASH_TEST_MODULE = __name__
DEFAULT_WAIT_MS = 10
# Each SIGKILL costs the jobs in flight one attempt; far more than any run kills.
MAX_ATTEMPTS = 100

metadata = MetaData()
# No primary key, no unique constraint: the table records every insert that committed, twice if twice.
crash_test_rows = Table(
    "chaos_crash_test_rows",
    metadata,
    Column("job_number", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker_pid", Integer, nullable=False),
)


@job_handler(CRASH_TEST_JOB, queue=CRASH_TEST_QUEUE, max_attempts=MAX_ATTEMPTS, timeout_seconds=60)
async def insert_row(ctx: JobContext[object]) -> None:
    """Payload `{"n": job number, "wait_ms": milliseconds}`: wait, INSERT the number, wait."""
    wait = float(ctx.payload.get("wait_ms", DEFAULT_WAIT_MS)) / 1000
    await asyncio.sleep(wait)
    await ctx.session.execute(crash_test_rows.insert().values(
        job_number=int(ctx.payload["n"]), attempt=ctx.job.attempt, worker_pid=os.getpid()))
    await asyncio.sleep(wait)
