"""Promise: enqueueing is part of the caller's transaction (the transactional outbox)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from seawall.jobs import Job, UnknownJobKindError, enqueue
from seawall.runtime import Runtime
from tests.integration.jobs.harness import EFFECT, in_process_worker, require_job
from tests.support.effects import count_effects


class Rollback(Exception):
    pass


async def count_jobs(runtime: Runtime) -> int:
    async with runtime.database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Job))).scalar_one())


async def test_job_enqueued_in_rolled_back_transaction_never_runs(runtime: Runtime) -> None:
    with pytest.raises(Rollback):
        async with runtime.database.transaction() as session:
            await enqueue(session, EFFECT, {"label": "rolled back"})
            raise Rollback  # e.g. the business write after it failed

    await in_process_worker(runtime.database, runtime.settings).run_until_idle()

    assert await count_jobs(runtime) == 0
    assert await count_effects(runtime.database) == 0


async def test_job_commits_with_the_business_rows_and_then_runs_once(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        job = await enqueue(session, EFFECT, {"label": "committed"})

    await in_process_worker(runtime.database, runtime.settings).run_until_idle()

    assert await count_effects(runtime.database, job_id=job.id) == 1
    assert (await require_job(runtime.database, job.id)).status == "succeeded"


async def test_same_dedup_key_returns_the_existing_job(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        first = await enqueue(session, EFFECT, {"label": "one"}, dedup_key="order-42")
        same_transaction = await enqueue(session, EFFECT, {"label": "two"}, dedup_key="order-42")
    async with runtime.database.transaction() as session:
        later_transaction = await enqueue(session, EFFECT, {"label": "three"}, dedup_key="order-42")

    assert first.id == same_transaction.id == later_transaction.id
    assert await count_jobs(runtime) == 1
    assert (await require_job(runtime.database, first.id)).payload == {"label": "one"}

    await in_process_worker(runtime.database, runtime.settings).run_until_idle()
    assert await count_effects(runtime.database) == 1


async def test_unregistered_kind_is_refused_at_enqueue(runtime: Runtime) -> None:
    with pytest.raises(UnknownJobKindError):
        async with runtime.database.transaction() as session:
            await enqueue(session, "tests.no_such_kind", {})
    assert await count_jobs(runtime) == 0
