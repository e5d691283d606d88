"""The PgQueuer side of `seawall bench jobs --peer pgqueuer`: the same no-op workload on PgQueuer.

PgQueuer (PyPI `pgqueuer`, in the `bench` extra) is a plain at-least-once PostgreSQL job queue:
claims with `FOR UPDATE SKIP LOCKED` in batches, completions buffered and written in batches. Its
schema goes into a fresh database of its own on the same server, installed by its own installer
(`Queries.install()`); jobs are enqueued first with `Queries.enqueue` in batches, then the same number
of worker processes as Seawall's (`job_worker pgqueuer`, one asyncpg connection each) run an
entrypoint that does nothing. A job is done once PgQueuer has deleted its row from the queue table
(it moves finished jobs to its log table); the run checks afterwards that every job was logged
`successful`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import asyncpg

from seawall.bench.job_worker import PGQUEUER_ENTRYPOINT
from seawall.bench.scratch import asyncpg_dsn

ENQUEUE_BATCH = 1000
MISSING = "--peer pgqueuer needs the pgqueuer package: pip install 'seawall[bench]'"


def available() -> bool:
    return importlib.util.find_spec("pgqueuer") is not None


def _queries(connection: asyncpg.Connection) -> Any:
    from pgqueuer import AsyncpgDriver, Queries

    return Queries(AsyncpgDriver(connection))


async def prepare(url: str, *, jobs: int) -> None:
    """Install PgQueuer's schema in the (fresh) database at `url` and enqueue `jobs` no-op jobs."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        queries = _queries(connection)
        await queries.install()
        for start in range(0, jobs, ENQUEUE_BATCH):
            size = min(ENQUEUE_BATCH, jobs - start)
            await queries.enqueue([PGQUEUER_ENTRYPOINT] * size, [None] * size, [0] * size)
    finally:
        await connection.close()


class Progress:
    """Reads how many of the run's jobs are still in PgQueuer's queue table, and how many its log
    records as successful. `open()` before use, `close()` after."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: asyncpg.Connection | None = None
        self._names: Any = None

    async def open(self) -> None:
        self._connection = await asyncpg.connect(asyncpg_dsn(self.url))
        self._names = _queries(self._connection).qbq.settings.qualified

    async def remaining(self) -> int:
        assert self._connection is not None
        return int(await self._connection.fetchval(f"SELECT count(*) FROM {self._names.queue_table}"))

    async def succeeded(self) -> int:
        assert self._connection is not None
        return int(await self._connection.fetchval(
            f"SELECT count(*) FROM {self._names.queue_table_log} WHERE status = 'successful'"))

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
