"""A bulkhead: at most `max_concurrent` calls to one provider at once in this process.

A full bulkhead refuses at once (`BulkheadFullError`) instead of queueing: the caller (a job)
is rescheduled, so a slow provider cannot tie up every worker slot. An `asyncio.Semaphore` would
queue callers; this keeps the count and refuses instead.

`acquire()` takes a slot or raises, `release()` gives it back; `slot()` does both around a block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seawall.resilience.errors import BulkheadFullError


class Bulkhead:
    def __init__(self, name: str, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.name = name
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        self.peak_in_flight = 0

    def acquire(self) -> None:
        """Take a slot; raises `BulkheadFullError` (nothing taken) when all are in use."""
        if self.in_flight >= self.max_concurrent:
            raise BulkheadFullError(
                f"{self.name} already has {self.in_flight} calls in flight (limit {self.max_concurrent})",
                retry_after=1.0,
            )
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
