"""Test job kinds whose effects are rows in `test_effects`, written in the handler's session.

Counting rows counts effects that committed: a handler whose transaction rolled back (lost lease,
crash) leaves none. Payload options steer each attempt, in this order:
  {"block_while_exists": "/path/flag"}              wait (cancellably) while that file exists
  {"sleep_on_attempts": [1], "sleep_seconds": 30}  sleep before writing, on those attempts
  {"permanent": true}                              raise PermanentJobError
  {"fail_while_exists": "/path/flag"}              raise while that file exists (replay tests)
  {"fail_times": 2}                                raise on the first two attempts
  {"fail_times": 1, "retry_after": 5}              ...as RetryableJobError(retry_after=5)
Files steer jobs across processes and across replays, which restart attempt numbers at 1.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from seawall.db import Database
from seawall.jobs import JobContext, PermanentJobError, RetryableJobError, job_handler

metadata = MetaData()
test_effects = Table(
    "test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker_pid", Integer, nullable=False),
    Column("label", String(100)),
)


async def create_effects_table(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)


async def count_effects(database: Database, *, job_id: int | None = None) -> int:
    query = select(func.count()).select_from(test_effects)
    if job_id is not None:
        query = query.where(test_effects.c.job_id == job_id)
    async with database.transaction() as session:
        return int((await session.execute(query)).scalar_one())


async def effects_of(database: Database, job_id: int) -> list[Any]:
    """The committed effect rows of one job, oldest first."""
    query = select(test_effects).where(test_effects.c.job_id == job_id).order_by(test_effects.c.id)
    async with database.transaction() as session:
        return list((await session.execute(query)).all())


@job_handler("tests.effect", queue="default", max_attempts=5, timeout_seconds=120)
async def record_effect(ctx: JobContext) -> None:
    payload = ctx.payload
    block_flag = payload.get("block_while_exists")
    while block_flag and Path(block_flag).exists():
        await asyncio.sleep(0.02)
    if ctx.job.attempt in payload.get("sleep_on_attempts", []):
        await asyncio.sleep(float(payload.get("sleep_seconds", 30)))
    if payload.get("permanent"):
        raise PermanentJobError("told to fail permanently")
    fail_flag = payload.get("fail_while_exists")
    if fail_flag and Path(fail_flag).exists():
        raise RuntimeError(f"told to fail while {fail_flag} exists (attempt {ctx.job.attempt})")
    if ctx.job.attempt <= int(payload.get("fail_times", 0)):
        if "retry_after" in payload:
            raise RetryableJobError(f"told to fail on attempt {ctx.job.attempt}",
                                    retry_after=float(payload["retry_after"]))
        raise RuntimeError(f"told to fail on attempt {ctx.job.attempt}")
    await ctx.session.execute(
        test_effects.insert().values(
            job_id=ctx.job.id, attempt=ctx.job.attempt, worker_pid=os.getpid(), label=payload.get("label")
        )
    )
