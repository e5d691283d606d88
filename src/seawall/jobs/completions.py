"""Completions written together: group commit for jobs whose handlers wrote nothing.

A handler that did not touch `ctx.session` has nothing to commit atomically with its completion,
so its completion joins the others that are ready at the same moment: one transaction, one fenced
statement (`repository.complete_many`) for the whole batch. A handler that wrote anything keeps
its completion in its own transaction, with its writes. While one batch is being written, the
completions that arrive wait and form the next one, so batches grow with the load and a lone job
waits for no timer. The writer task runs in the context the batch was made in (the worker's), not
in the context of the job that happened to start it: no job's log fields or span reach it.
"""

from __future__ import annotations

import asyncio
import contextvars

from seawall.db import Database
from seawall.jobs import repository
from seawall.jobs.context import ClaimedJob
from seawall.kit.clock import Clock


class CompletionBatch:
    def __init__(self, *, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock
        self._pending: list[tuple[ClaimedJob, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._context = contextvars.copy_context()

    async def complete(self, job: ClaimedJob) -> bool:
        """Record the job succeeded if its lease still holds; False if it was fenced off."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="seawall-job-completions",
                                               context=self._context.copy())
        return await future

    async def _write_batches(self) -> None:
        await asyncio.sleep(0)  # let handlers finishing in this turn of the loop join the first batch
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.database.transaction() as session:
                    done = await repository.complete_many(
                        session, claims=[(job.id, job.lease_token) for job, _ in batch], now=self.clock.now())
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for job, future in batch:
                if not future.done():
                    future.set_result(job.id in done)
