"""Promise 1 (no lost work) under sustained load: the job of a dead worker is claimed again as soon as
its lease has expired, before younger due jobs, however many of those would fill every claim. (On
SQLite the claim is two picks; with the due jobs picked first, a steady stream of them kept a dead
worker's jobs waiting: `seawall demo` saw them run again 13 s after the new worker's first claim.)
"""

from __future__ import annotations

from datetime import timedelta

from seawall.jobs import repository
from seawall.runtime import Runtime
from tests.integration.jobs.harness import EFFECT, enqueue_effect


async def test_an_expired_lease_is_claimed_before_younger_due_jobs_that_fill_the_claim(runtime: Runtime) -> None:
    stranded = await enqueue_effect(runtime.database)
    async with runtime.database.transaction() as session:
        held = await repository.claim_due(session, queues=["default"], kinds=[EFFECT], limit=1,
                                          now=runtime.clock.now(), lease_seconds=1.0, worker_id="killed")
    assert [job.id for job in held] == [stranded.id]
    younger = [await enqueue_effect(runtime.database) for _ in range(4)]

    async with runtime.database.transaction() as session:  # the killed worker's lease has run out
        claimed = await repository.claim_due(session, queues=["default"], kinds=[EFFECT], limit=2,
                                             now=runtime.clock.now() + timedelta(seconds=60), lease_seconds=1.0,
                                             worker_id="restarted")
    assert [job.id for job in claimed] == [stranded.id, younger[0].id]
    assert claimed[0].attempts == 2 and claimed[0].locked_by == "restarted"
