"""The worker: claims due jobs, runs their handlers under a renewed lease, records each outcome.

Guarantees (Seawall's own core; no job library gave all of them with the outbox in our own tables):
- At-least-once execution, effect-once by construction: a handler's writes commit in the same
  transaction as the job's completion, and that completion is conditional on the lease token
  (fencing). A worker that lost its lease (killed, paused, partitioned, slow) cannot record an
  outcome over the new owner's; its whole transaction rolls back.
- A claimed job is leased for `job_lease_seconds` and the lease is renewed every third of that
  while the handler runs. A worker that dies stops renewing; once the lease expires any worker
  claims the job again (with a new token), and the dead worker's attempt is logged as
  `lease_expired`.
- Failures retry with capped exponential backoff and full jitter (`retry.RetryPolicy`); permanent
  errors, or the last allowed attempt failing, move the job to `dead` (the dead-letter queue),
  keeping its last error and its attempt history.
- On shutdown, no new jobs are claimed, running handlers get `job_drain_timeout_seconds` to
  finish, and any still running are cancelled and handed back to the queue at once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import secrets
import socket
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import repository
from seawall.jobs.context import ClaimedJob, JobContext
from seawall.jobs.errors import DeferJobError, LeaseLostError, PermanentJobError, RetryableJobError
from seawall.jobs.outbox import enqueue
from seawall.jobs.registry import JobKind, JobRegistry
from seawall.jobs.registry import registry as default_registry
from seawall.jobs.retry import RetryPolicy
from seawall.jobs.wakeup import Listener
from seawall.kit.clock import Clock, SystemClock

log = structlog.get_logger("seawall.jobs.worker")

MAX_ERROR_CHARS = 4000

OutcomeWrite = Callable[[AsyncSession, datetime], Awaitable[bool]]


def describe_error(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    tb = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    return f"{text}\n{tb}"[:MAX_ERROR_CHARS]


class Worker:
    def __init__(
        self,
        *,
        database: Database,
        settings: Settings,
        queues: list[str] | None = None,
        concurrency: int | None = None,
        registry: JobRegistry = default_registry,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        runtime: Any = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.queues = queues or settings.queue_names
        self.concurrency = concurrency or settings.worker_concurrency
        self.registry = registry
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.runtime = runtime
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease_seconds = settings.job_lease_seconds
        self._running: dict[int, asyncio.Task[None]] = {}
        self._tokens: dict[int, str] = {}
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._periodic_buckets: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    def wake(self) -> None:
        self._wakeup.set()

    @property
    def running_count(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        kinds = self.registry.names_for_queues(self.queues)
        log.info("worker.started", worker_id=self.worker_id, queues=self.queues, kinds=kinds)
        listener = None
        if self.database.engine.dialect.name == "postgresql":
            listener = Listener(self.database.engine.url, self.queues, self.wake)
            listener.start()
        try:
            while not self._stopping.is_set():
                claimed = 0
                try:
                    await self._enqueue_periodic()
                    capacity = self.concurrency - len(self._running)
                    if capacity > 0 and kinds:
                        claimed = await self._claim_and_start(kinds, capacity)
                except Exception as exc:  # the database may be briefly unavailable; keep going
                    log.warning("worker.loop_error", error=describe_error(exc))
                if claimed and len(self._running) < self.concurrency:
                    continue
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.settings.job_poll_interval_seconds)
                except TimeoutError:
                    pass
        finally:
            if listener is not None:
                await listener.stop()
            await self._drain()
            log.info("worker.stopped", worker_id=self.worker_id)

    async def run_until_idle(self, *, max_rounds: int = 10_000) -> None:
        """Run until no job is due and none is running (tests and one-shot tools)."""
        kinds = self.registry.names_for_queues(self.queues)
        idle_checks = 0
        for _ in range(max_rounds):
            claimed = await self._claim_and_start(kinds, self.concurrency - len(self._running))
            if not claimed and not self._running:
                # Idle only when a few claims in a row find nothing: a job enqueued by a handler that
                # just finished can reach other connections a moment after that handler's task ends.
                idle_checks += 1
                if idle_checks >= 3:
                    return
                await asyncio.sleep(0.05)
                continue
            idle_checks = 0
            if self._running:
                await asyncio.wait(list(self._running.values()), return_when=asyncio.FIRST_COMPLETED)
        raise RuntimeError("run_until_idle did not become idle")

    async def _drain(self) -> None:
        if not self._running:
            return
        tasks = list(self._running.values())
        _, pending = await asyncio.wait(tasks, timeout=self.settings.job_drain_timeout_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_and_start(self, kinds: list[str], capacity: int) -> int:
        if capacity <= 0 or not kinds:
            return 0
        async with self.database.transaction() as session:
            jobs = await repository.claim_due(
                session,
                queues=self.queues,
                kinds=kinds,
                limit=capacity,
                now=self.clock.now(),
                lease_seconds=self.lease_seconds,
                worker_id=self.worker_id,
            )
            claimed = [
                ClaimedJob(
                    id=job.id,
                    kind=job.kind,
                    queue=job.queue,
                    payload=dict(job.payload),
                    attempt=job.attempts,
                    max_attempts=job.max_attempts,
                    lease_token=job.lease_token or "",
                )
                for job in jobs
            ]
        for job in claimed:
            task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))
        return len(claimed)

    def _finished(self, job_id: int, _task: asyncio.Task[None] | None = None) -> None:
        self._running.pop(job_id, None)
        self._wakeup.set()

    async def _enqueue_periodic(self) -> None:
        now = self.clock.now()
        for kind in self.registry.periodic():
            if kind.queue not in self.queues or kind.every_seconds is None:
                continue
            bucket = int(now.timestamp() // kind.every_seconds)
            if self._periodic_buckets.get(kind.name) == bucket:
                continue
            async with self.database.transaction() as session:
                await enqueue(
                    session, kind.name, {}, dedup_key=f"periodic:{kind.name}:{bucket}",
                    clock=self.clock, registry=self.registry,
                )
            self._periodic_buckets[kind.name] = bucket

    # -- running one job ---------------------------------------------------------------------

    async def _execute(self, job: ClaimedJob) -> None:
        spec = self.registry.get(job.kind)
        log_ = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempt, worker_id=self.worker_id)
        if job.attempt > job.max_attempts:
            await self._record(job, lambda s, now: repository.bury(
                s, job_id=job.id, lease_token=job.lease_token, now=now,
                error="attempts exhausted: the worker running the last attempt was lost",
            ))
            return
        handler_task = asyncio.create_task(self._run_handler(job, spec))
        keeper = asyncio.create_task(self._keep_lease(job, handler_task))
        try:
            await handler_task
            log_.info("job.succeeded")
        except asyncio.CancelledError:
            if keeper.done() and keeper.result():  # cancelled because the lease was lost
                log_.warning("job.lease_lost")
                return
            if self._stopping.is_set():
                await self._record(job, lambda s, now: repository.release(
                    s, job_id=job.id, lease_token=job.lease_token, now=now
                ))
                log_.info("job.released")
                return
            raise
        except LeaseLostError:
            log_.warning("job.lease_lost_at_commit")
        except Exception as exc:
            await self._record_failure(job, spec, exc, log_)
        finally:
            keeper.cancel()

    async def _run_handler(self, job: ClaimedJob, spec: JobKind) -> None:
        async with self.database.sessionmaker() as session:
            async with session.begin():
                context = JobContext(
                    job=job, session=session, database=self.database, settings=self.settings, clock=self.clock,
                    runtime=self.runtime,
                )
                await asyncio.wait_for(spec.handler(context), timeout=spec.timeout_seconds)
                completed = await repository.complete(
                    session, job_id=job.id, lease_token=job.lease_token, now=self.clock.now()
                )
                if not completed:
                    raise LeaseLostError(f"job {job.id} lost its lease before completing; rolled back")

    async def _keep_lease(self, job: ClaimedJob, handler_task: asyncio.Task[None]) -> bool:
        """Renew the lease until the handler ends; cancel the handler and return True if it is lost."""
        interval = self.lease_seconds / 3
        expires_at = self.clock.now() + timedelta(seconds=self.lease_seconds)
        while not handler_task.done():
            await asyncio.sleep(interval)
            if handler_task.done():
                break
            try:
                async with self.database.transaction() as session:
                    still_ours = await repository.renew_lease(
                        session, job_id=job.id, lease_token=job.lease_token,
                        now=self.clock.now(), lease_seconds=self.lease_seconds,
                    )
                if still_ours:
                    expires_at = self.clock.now() + timedelta(seconds=self.lease_seconds)
            except Exception as exc:
                log.warning("job.lease_renewal_failed", job_id=job.id, error=describe_error(exc))
                still_ours = self.clock.now() < expires_at
            if not still_ours:
                handler_task.cancel()
                return True
        return False

    async def _record_failure(self, job: ClaimedJob, spec: JobKind, exc: Exception, log_: Any) -> None:
        if isinstance(exc, DeferJobError):
            delay = max(0.0, exc.retry_after or 0.0)
            log_.info("job.deferred", delay_seconds=round(delay, 3), reason=exc.message)
            await self._record(job, lambda s, now: repository.defer(
                s, job_id=job.id, lease_token=job.lease_token, now=now,
                run_at=now + timedelta(seconds=delay), reason=exc.message,
            ))
            return
        error = describe_error(exc)
        if isinstance(exc, TimeoutError):
            error = f"handler timed out after {spec.timeout_seconds}s\n{error}"
        permanent = isinstance(exc, PermanentJobError) or isinstance(exc, spec.permanent_errors)
        if permanent or job.attempt >= job.max_attempts:
            reason = "permanent error" if permanent else "attempts exhausted"
            log_.warning("job.dead", reason=reason, error=error.splitlines()[0])
            await self._record(job, lambda s, now: repository.bury(
                s, job_id=job.id, lease_token=job.lease_token, now=now, error=error
            ))
            return
        policy = self.retry_policy(spec, job)
        retry_after = exc.retry_after if isinstance(exc, RetryableJobError) else None
        delay = policy.delay(job.attempt, rng=self.rng, retry_after=retry_after)
        log_.info("job.retry_scheduled", delay_seconds=round(delay, 3), error=error.splitlines()[0])
        await self._record(job, lambda s, now: repository.schedule_retry(
            s, job_id=job.id, lease_token=job.lease_token, now=now,
            run_at=now + timedelta(seconds=delay), error=error,
        ))

    def retry_policy(self, spec: JobKind, job: ClaimedJob) -> RetryPolicy:
        base = spec.backoff_base_seconds or self.settings.job_backoff_base_seconds
        cap = spec.backoff_cap_seconds or self.settings.job_backoff_cap_seconds
        return RetryPolicy(max_attempts=job.max_attempts, base_seconds=base, cap_seconds=max(cap, base))

    async def _record(self, job: ClaimedJob, write: OutcomeWrite) -> None:
        """Record an outcome in its own transaction; a lost lease means the new owner decides."""
        async with self.database.transaction() as session:
            if not await write(session, self.clock.now()):
                log.warning("job.outcome_fenced_off", job_id=job.id, worker_id=self.worker_id)
