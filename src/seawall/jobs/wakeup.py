"""Prompt wake-ups for workers, with polling as the fallback.

- In the same process (`seawall serve`, embedded mode): `enqueue()` notes the job's queue on the
  session, and when that session commits, the workers running in this process for that queue wake
  at once. Nothing happens on rollback.
- Across processes on PostgreSQL: the job's INSERT also evaluates `pg_notify('seawall_jobs', <queue>)`
  in the caller's transaction (one statement), so the notification is delivered only if the job
  commits. A worker listens on a connection of its own and wakes at once for its queues.

Neither is needed for correctness: the worker's poll (`job_poll_interval_seconds`) still finds every
due job, e.g. while the listener reconnects in the background, or on SQLite across processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from sqlalchemy import func
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from seawall.db import CommitHook

CHANNEL = "seawall_jobs"
RECONNECT_SECONDS = 5.0

log = structlog.get_logger("seawall.jobs.wakeup")

_local_workers: dict[int, tuple[frozenset[str], Callable[[], None]]] = {}


def wake_locally(queues: list[str], wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` whenever a session of this process commits a due job on one of `queues`;
    returns the function that stops it."""
    token = id(wake)
    _local_workers[token] = (frozenset(queues), wake)

    def stop() -> None:
        _local_workers.pop(token, None)

    return stop


def _wake_local_workers(_session: Session, queues: set[str]) -> None:
    for worker_queues, wake in list(_local_workers.values()):
        if not worker_queues.isdisjoint(queues):
            wake()


_enqueued = CommitHook("seawall_enqueued_queues", _wake_local_workers)


def wake_local_workers_on_commit(session: AsyncSession, queue: str) -> None:
    """Wake this process's workers for `queue` once the transaction commits (see `notify_sql` for
    other processes, which the job's INSERT does in the same statement on PostgreSQL)."""
    _enqueued.add(session, [queue])


def notify_sql(queue: Any) -> Any:
    """`pg_notify` for `queue` (a name or a bound parameter), to evaluate inside the statement that
    inserts a due job."""
    return func.pg_notify(CHANNEL, queue)


class Listener:
    def __init__(self, url: URL, queues: list[str], wake: Callable[[], None]) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.queues = set(queues)
        self.wake = wake
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="seawall-job-listener")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload in self.queues:
            self.wake()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn, timeout=10)
                await connection.add_listener(CHANNEL, self._on_notify)
                self.wake()  # jobs may have been enqueued while we were not listening
                while not self._stopping.is_set() and not connection.is_closed():
                    await asyncio.sleep(1.0)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("jobs.listener_unavailable", error=f"{type(exc).__name__}: {exc}")
            finally:
                if connection is not None and not connection.is_closed():
                    await connection.close()
            if not self._stopping.is_set():
                try:
                    await asyncio.wait_for(self._stopping.wait(), RECONNECT_SECONDS)
                except TimeoutError:
                    pass
