"""Queue depth and age, computed from the jobs table when Prometheus scrapes (a custom collector).

Series (gauges, database-wide: every process that exports them reports the same numbers, so
aggregate them across targets with `max`, never `sum`):
- `seawall_queue_jobs{queue, state}`: jobs per queue in each state — `due`, `scheduled`, `running`,
  `dead` (the dead-letter queue's size); see `jobs/stats.py`;
- `seawall_queue_oldest_due_age_seconds{queue}`: how long the oldest due job has waited past its
  `next_run_at`, in seconds; 0 when none is due (the alert on a stuck queue watches it).
Every queue this process knows (`queues`) appears, with zeros when it holds nothing.

Cost: one query per refresh, and one refresh serves every scrape for `max_age_seconds` (several
Prometheus servers, or one scraping often, do not multiply the load). The query is bounded by
`QUERY_TIMEOUT_SECONDS`; when the database cannot answer, these series are left out of the scrape
(the rest of it still answers) and the failure is logged once until the database answers again.

Where it runs: the API's `/metrics` route awaits `refresh()` and then renders (the collector
reads the snapshot); a metrics port's server thread calls `collect()`, which runs the refresh on
`loop` (the event loop the database belongs to) and waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from seawall.db import Database
from seawall.jobs.stats import QueueCounts, queue_counts
from seawall.kit.clock import Clock, SystemClock

log = structlog.get_logger("seawall.metrics")

QUERY_TIMEOUT_SECONDS = 2.0
STATES = ("due", "scheduled", "running", "dead")


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, QueueCounts]
    oldest_due_age_seconds: dict[str, float]


class QueueStats(Collector):
    def __init__(self, database: Database, *, queues: Iterable[str] = (), max_age_seconds: float = 5.0,
                 loop: asyncio.AbstractEventLoop | None = None, clock: Clock | None = None,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self.queues = tuple(queues)
        self.max_age_seconds = max_age_seconds
        self.loop = loop
        self.clock = clock or SystemClock()
        self._timer = timer
        self._snapshot: Snapshot | None = None
        self._taken_at: float | None = None
        self._failing = False
        self._refreshing: asyncio.Future[None] | None = None

    async def refresh(self) -> None:
        """Query again unless the last answer (or failure) is younger than `max_age_seconds`; concurrent
        callers share one query."""
        if self._taken_at is not None and self._timer() - self._taken_at < self.max_age_seconds:
            return
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._query())
        refreshing = self._refreshing
        try:
            await asyncio.shield(refreshing)
        finally:
            if self._refreshing is refreshing and refreshing.done():
                self._refreshing = None

    async def _query(self) -> None:
        now = self.clock.now()
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                async with self.database.read_transaction() as session:
                    rows = await queue_counts(session, now=now)
        except Exception as exc:  # the scrape goes on without these series
            if not self._failing:
                log.warning("metrics.queue_stats_unavailable", error=type(exc).__name__,
                            detail=str(exc).splitlines()[0][:200] if str(exc) else "")
            self._failing = True
            self._snapshot = None
        else:
            if self._failing:
                log.info("metrics.queue_stats_available")
            self._failing = False
            counts = {row.queue: row for row in rows}
            ages = {row.queue: max(0.0, (now - row.oldest_due_at).total_seconds())
                    for row in rows if row.oldest_due_at is not None}
            self._snapshot = Snapshot(counts=counts, oldest_due_age_seconds=ages)
        self._taken_at = self._timer()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.loop is not None and not _runs_on(self.loop):
            try:
                asyncio.run_coroutine_threadsafe(self.refresh(), self.loop).result(QUERY_TIMEOUT_SECONDS + 1)
            except Exception:  # a stopped loop or a timeout: leave the series out
                return
        snapshot = self._snapshot
        if snapshot is None:
            return
        jobs = GaugeMetricFamily("seawall_queue_jobs", "Jobs per queue and state (due, scheduled, running, "
                                 "dead = the dead-letter queue), from the jobs table.", labels=["queue", "state"])
        age = GaugeMetricFamily("seawall_queue_oldest_due_age_seconds", "How long the oldest due job of the "
                                "queue has waited past its run time (0: none due).", labels=["queue"])
        for queue in sorted(set(self.queues) | set(snapshot.counts)):
            row = snapshot.counts.get(queue)
            for state in STATES:
                jobs.add_metric([queue, state], float(getattr(row, state)) if row is not None else 0.0)
            age.add_metric([queue], snapshot.oldest_due_age_seconds.get(queue, 0.0))
        yield jobs
        yield age


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
