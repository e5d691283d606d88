"""What the report sampler reads during a run: jobs per state, and breaker state per payment route.

- `JobCountProbe`: one grouped count of the jobs table (`job_counts`: the query behind
  `GET /admin/jobs/stats`, `jobs.repository.count_by_status`), on the run's own database through a
  read-only transaction (SQLite: the `query_only` reader, which never waits for the writer).
  Records `QUEUE` rows for queued, running and dead, and `COUNTER` rows for jobs succeeded and for
  jobs enqueued (every row of the table). `job_counts` is the one place to swap for
  `observability/queue_stats.py`'s query (per queue) once that lands.
- `BreakerProbe`: `GET /admin/providers` of the serving process, whose answer is that process's own
  `ProviderPolicy.breaker.state` per payment route. It is the true source only where that process
  makes the provider calls (`seawall serve`: the API and its embedded worker share one runtime);
  with separate `seawall worker` processes each has breakers of its own, which no HTTP route shows,
  so the commands do not sample it then (and say so in the report).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import repository
from seawall.reports.timeline import BREAKER, BREAKER_LEVELS, COUNTER, QUEUE, Timeline

QUEUE_STATES = ("queued", "running", "dead")
JOBS_SUCCEEDED = "jobs succeeded"
JOBS_ENQUEUED = "jobs enqueued"


async def job_counts(session: AsyncSession) -> dict[str, int]:
    """Jobs per status, every queue together: {"queued": n, "running": n, "succeeded": n, "dead": n}."""
    return await repository.count_by_status(session)


@dataclass
class JobCountProbe:
    """Samples `job_counts` on the database of `settings` (its engine made on the sampler's loop)."""

    settings: Settings
    name: str = "jobs table"
    _database: Database | None = field(default=None, repr=False)

    async def sample(self, timeline: Timeline, at: float) -> None:
        if self._database is None:
            self._database = Database(self.settings)
        async with self._database.read_transaction() as session:
            counts = await job_counts(session)
        for state in QUEUE_STATES:
            timeline.add(QUEUE, state, counts.get(state, 0), at)
        timeline.add(COUNTER, JOBS_SUCCEEDED, counts.get("succeeded", 0), at)
        timeline.add(COUNTER, JOBS_ENQUEUED, sum(counts.values()), at)

    async def aclose(self) -> None:
        if self._database is not None:
            await self._database.dispose()


@dataclass
class BreakerProbe:
    """Samples the breaker state of each payment route from `GET <base_url>/admin/providers`."""

    base_url: str
    admin_key: str
    name: str = "/admin/providers"
    _client: httpx.AsyncClient | None = field(default=None, repr=False)

    async def sample(self, timeline: Timeline, at: float) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=5.0,
                                             headers={"Authorization": f"Bearer {self.admin_key}"})
        response = await self._client.get("/admin/providers")
        response.raise_for_status()
        for route, status in response.json().get("routes", {}).items():
            timeline.add(BREAKER, route, BREAKER_LEVELS[status["breaker"]], at)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
