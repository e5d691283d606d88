"""Promise 4 (issue 14): a worker never runs more jobs of a queue than that queue's slots, nor more
than its own slots, and never pulls more than it can run: on RabbitMQ it holds no more unacked
deliveries of a queue than that queue's slots.

Counted, not timed: each handler notes itself running in its queue's count and blocks on a gate.
The test waits until each queue's count has reached its cap, lets the worker go round its claim
loop many more times (counted), checks that nothing more started, then opens the gate; at the end
the most ever running at once is exactly each queue's cap, and every job ran.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from seawall.jobs import JobContext, enqueue
from seawall.jobs.registry import JobRegistry
from seawall.jobs.worker import Worker
from seawall.runtime import Runtime
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.flow import running

CAPS = {"narrow": 1, "wide": 3}  # out of 6 slots: one slot is never taken while both queues are capped
JOBS_PER_QUEUE = 8


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"worker_concurrency": 6, "worker_queue_concurrency": "narrow=1,wide=3", "job_lease_seconds": 5.0}


class Gauge:
    """Jobs running now and the most ever at once, per queue and in all."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0
        self.done: Counter[str] = Counter()
        self.gate = asyncio.Event()

    async def hold(self, queue: str) -> None:
        self.now[queue] += 1
        self.peak[queue] = max(self.peak[queue], self.now[queue])
        self.peak_total = max(self.peak_total, sum(self.now.values()))
        try:
            await self.gate.wait()
        finally:
            self.now[queue] -= 1
        self.done[queue] += 1


async def test_a_worker_never_runs_more_of_a_queue_than_its_slots(runtime: Runtime) -> None:
    gauge = Gauge()
    kinds = JobRegistry()
    for queue in CAPS:
        @kinds.handler(f"tests.held_{queue}", queue=queue, timeout_seconds=60)
        async def held(ctx: JobContext) -> None:
            await gauge.hold(ctx.job.queue)

    async with runtime.database.transaction() as session:
        for queue in CAPS:
            for _ in range(JOBS_PER_QUEUE):
                await enqueue(session, f"tests.held_{queue}", {}, registry=kinds)
    worker = Worker(database=runtime.database, settings=runtime.settings, queues=list(CAPS), registry=kinds,
                    clock=runtime.clock)
    assert worker.slots.caps == CAPS
    rounds = 0
    claim = worker._claim_and_start

    async def counted_claim(job_kinds: list[str], capacity: int) -> int:
        nonlocal rounds
        rounds += 1
        return await claim(job_kinds, capacity)

    worker._claim_and_start = counted_claim  # type: ignore[method-assign]
    async with running(worker):
        await wait_until(lambda: _true(gauge.now == CAPS), what="each queue running its cap")
        if worker.transport is not None:  # RabbitMQ: per-queue prefetch is the queue's cap
            assert worker.transport.consumer.prefetch == CAPS
        seen = rounds
        # Many more wake-ups of the claim loop (each finds the queues at their caps): nothing more starts.
        for _ in range(20):
            worker.wake()
            await asyncio.sleep(0.01)
            assert gauge.now == CAPS, gauge.now
            if worker.transport is not None:
                for queue, cap in CAPS.items():  # unacked deliveries held: running + buffered <= cap
                    assert worker.transport.consumer.pending_of(queue) + worker.slots.in_use(queue) <= cap
        assert rounds > seen or worker.transport is not None  # the table transport did claim again
        gauge.gate.set()
        await wait_until(lambda: _true(sum(gauge.done.values()) == len(CAPS) * JOBS_PER_QUEUE),
                         what="every job run")
    assert gauge.peak == CAPS and gauge.peak_total == sum(CAPS.values())
    assert gauge.done == dict.fromkeys(CAPS, JOBS_PER_QUEUE)


async def _true(value: bool) -> bool:
    return value
