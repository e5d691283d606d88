"""The worker: claims due jobs, runs their handlers under a renewed lease, records each outcome.

Guarantees (Seawall's own core; no job library gave all of them with the outbox in our own tables):
- At-least-once execution, effect-once by construction: a handler's writes commit in the same
  transaction as the job's completion, and that completion is conditional on the lease token
  (fencing). A worker that lost its lease (killed, paused, partitioned, slow) cannot record an
  outcome over the new owner's; its whole transaction rolls back.
- A claimed job is leased for `job_lease_seconds`; the worker's one `LeaseKeeper` renews every
  running job's lease every third of that, in one statement. A worker that dies stops renewing;
  once the lease expires any worker claims the job again (with a new token), and the dead
  worker's attempt is logged as `lease_expired`.
- A handler that wrote nothing through `ctx.session` has its completion written together with the
  others ready at the same moment (`CompletionBatch`, group commit); there is nothing of its own
  to commit atomically with it. Handlers run in their job's own task.
- Failures retry with capped exponential backoff and full jitter (`retry.RetryPolicy`); permanent
  errors, or the last allowed attempt failing, move the job to `dead` (the dead-letter queue),
  keeping its last error and its attempt history.
- On shutdown (`stop()`), no new jobs are claimed, running handlers get `shutdown_timeout` seconds
  (`Settings.resolved_shutdown_timeout`) to finish, and any still running are cancelled and handed
  back to the queue at once (`repository.release`: the attempt is not counted). A handler that ignores
  its cancellation is waited for `RELEASE_WAIT_SECONDS` more at most; its job then comes back when its
  lease expires, as after a crash.

Transports. Without `broker_url` the worker claims due rows straight from the table (SQLite, or
PostgreSQL with SKIP LOCKED), woken at once by a commit that enqueued due work (`wakeup`), else
every `job_poll_interval_seconds`. Finished jobs free slots, but it claims again only once half its
slots are free (or work arrived, or the poll came round), so claims come in batches.
With `broker_url`, job ids arrive from RabbitMQ (`transport/`): the worker claims each delivered
id through the same conditional, lease-stamping update, acks a message whose row has nothing to
run (finished, not due, leased elsewhere), and acks the others once the job's outcome is recorded.
While the broker is unreachable (not yet connected, or reconnecting) the worker claims from the
table at its poll interval, so work never stalls; while it is up, a slow sweep
(`broker_sweep_interval_seconds`) still claims from the table.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import secrets
import socket
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.chaos.crash_points import crash_point
from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import repository, telemetry
from seawall.jobs.completions import CompletionBatch
from seawall.jobs.context import ClaimedJob, JobContext
from seawall.jobs.errors import DeferJobError, LeaseLostError, PermanentJobError, RetryableJobError
from seawall.jobs.leases import LeaseKeeper
from seawall.jobs.outbox import enqueue
from seawall.jobs.registry import JobKind, JobRegistry
from seawall.jobs.registry import registry as default_registry
from seawall.jobs.retry import RetryPolicy
from seawall.jobs.slots import QueueSlots
from seawall.jobs.telemetry import Attempt
from seawall.jobs.transport import BrokerTransport, Delivery
from seawall.jobs.wakeup import Listener, wake_locally
from seawall.kit.clock import Clock, SystemClock

log = structlog.get_logger("seawall.jobs.worker")

MAX_ERROR_CHARS = 4000
RELEASE_WAIT_SECONDS = 2.0  # after cancelling at the drain timeout: for the hand-back writes to commit

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
        runtime: object = None,  # handed to handlers as `ctx.runtime` (each types it by its Protocol)
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
        # Each queue's share of the slots (`jobs/slots.py`): claims and deliveries are taken within it.
        self.slots = QueueSlots(settings.queue_slots(self.queues, self.concurrency), total=self.concurrency)
        self._lost: set[int] = set()  # jobs whose lease was lost: their tasks are being cancelled
        self.leases = LeaseKeeper(database=database, clock=self.clock, lease_seconds=self.lease_seconds,
                                  on_lost=self._lose_lease)
        self.completions = CompletionBatch(database=database, clock=self.clock)
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._work_signalled = False  # woken because work arrived, not only because a job finished
        self._periodic_buckets: dict[str, int] = {}
        self.transport: BrokerTransport | None = None  # set while running with a broker

    def _broker_transport(self, kinds: list[str]) -> BrokerTransport | None:
        if not self.settings.broker_url:
            return None
        # Per queue, never more unacked deliveries than the queue's slots (nor `broker_prefetch_count`).
        ceiling = self.settings.broker_prefetch_count or self.concurrency
        prefetch = {queue: min(cap, ceiling) for queue, cap in self.slots.caps.items()}
        return BrokerTransport(database=self.database, settings=self.settings, queues=self.queues, kinds=kinds,
                               clock=self.clock, prefetch=prefetch, on_delivery=self._wakeup.set)

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    def wake(self) -> None:
        self._work_signalled = True
        self._wakeup.set()
        if self.transport is not None:
            self.transport.wake()

    @property
    def _claim_batch(self) -> int:
        """Free slots worth a claim when only finished jobs woke us: claiming one job per finished
        job would cost a write transaction each; waiting for half the slots batches them."""
        return max(1, self.concurrency // 2)

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
        stop_waking = wake_locally(self.queues, self.wake)
        transport = self.transport = self._broker_transport(kinds)
        if transport is not None:
            transport.start()
        next_sweep = time.monotonic() + self.settings.broker_sweep_interval_seconds
        polled = True
        keeper = asyncio.create_task(self.leases.run(), name="seawall-lease-keeper")
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                signalled, self._work_signalled = self._work_signalled, False
                claimed = 0
                try:
                    await self._enqueue_periodic()
                    if kinds and transport is not None:
                        claimed = await self._claim_deliveries(transport, kinds)
                    capacity = self.concurrency - len(self._running)
                    if capacity > 0 and kinds:
                        if transport is None or transport.polling:
                            if polled or signalled or capacity >= self._claim_batch:
                                claimed += await self._claim_and_start(kinds, capacity)
                        elif transport.available and time.monotonic() >= next_sweep:
                            next_sweep = time.monotonic() + self.settings.broker_sweep_interval_seconds
                            claimed += await self._claim_and_start(kinds, capacity)
                except Exception as exc:  # the database may be briefly unavailable; keep going
                    log.warning("worker.loop_error", error=describe_error(exc))
                if claimed and len(self._running) < self.concurrency:
                    polled = True  # there may be more due right now
                    continue
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.settings.job_poll_interval_seconds)
                    polled = False
                except TimeoutError:
                    polled = True
        finally:
            stop_waking()
            if listener is not None:
                await listener.stop()
            if transport is not None:
                await transport.stop_intake()
            await self._drain()
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            if transport is not None:
                await transport.aclose()
            self.transport = None
            log.info("worker.stopped", worker_id=self.worker_id)

    async def run_until_idle(self, *, max_rounds: int = 10_000) -> None:
        """Run until no job is due and none is running (tests and one-shot tools).

        With a broker, each round relays due jobs and fetches deliveries (`basic.get`) before it
        falls back to claiming from the table.
        """
        kinds = self.registry.names_for_queues(self.queues)
        transport = self._broker_transport(kinds)
        if transport is not None and not await transport.open():
            transport = None
        keeper = asyncio.create_task(self.leases.run(), name="seawall-lease-keeper")
        try:
            await self._run_until_idle(kinds, transport, max_rounds)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            if transport is not None:
                await transport.aclose()

    async def _run_until_idle(self, kinds: list[str], transport: BrokerTransport | None, max_rounds: int) -> None:
        idle_checks = 0
        for _ in range(max_rounds):
            claimed = 0
            if transport is not None and kinds:
                claimed += await transport.relay.publish_due()
                await transport.consumer.fetch({queue: self.slots.free(queue) for queue in self.slots.caps})
                claimed += await self._claim_deliveries(transport, kinds)
            if not claimed:
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
        _, pending = await asyncio.wait(tasks, timeout=self.settings.resolved_shutdown_timeout)
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=RELEASE_WAIT_SECONDS)
            if stuck:
                log.warning("worker.drain_abandoned", jobs=len(stuck), worker_id=self.worker_id,
                            note="not handed back in time: each comes back when its lease expires")

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_and_start(self, kinds: list[str], capacity: int) -> int:
        """Claim due jobs into up to `capacity` free slots, each queue within its own free slots, the
        queues in `QueueSlots.rotation` order, in one transaction."""
        if capacity <= 0 or not kinds:
            return 0
        claimed: list[ClaimedJob] = []
        async with self.database.transaction() as session:
            for queue in self.slots.rotation():
                limit = min(capacity - len(claimed), self.slots.free(queue))
                if limit <= 0:
                    continue
                jobs = await repository.claim_due(
                    session,
                    queues=[queue],
                    kinds=kinds,
                    limit=limit,
                    now=self.clock.now(),
                    lease_seconds=self.lease_seconds,
                    worker_id=self.worker_id,
                )
                claimed += [self._snapshot(job) for job in jobs]
        for job in claimed:
            self._start(job, None)
        return len(claimed)

    async def _claim_deliveries(self, transport: BrokerTransport, kinds: list[str]) -> int:
        """Claim the jobs that delivered messages name, as far as there are free slots; return how
        many deliveries were dealt with (started, skipped or dead-lettered)."""
        if not transport.consumer.pending:
            return 0
        await asyncio.sleep(0)  # let deliveries already read from the socket join this claim
        deliveries: list[Delivery] = []
        free = self.concurrency - len(self._running)
        for queue in self.slots.rotation():  # each queue within its free slots, the rest to the next
            deliveries += transport.consumer.take(queue, min(free - len(deliveries), self.slots.free(queue)))
        if not deliveries:
            return 0
        for delivery in deliveries:
            if delivery.job_id is None:
                log.warning("job.delivery_malformed", body=delivery.message.body[:200])
                await delivery.dead_letter()
        deliveries = [delivery for delivery in deliveries if delivery.job_id is not None]
        try:
            async with self.database.transaction() as session:
                jobs, busy = await repository.claim_by_ids(
                    session, job_ids=[d.job_id for d in deliveries if d.job_id is not None], queues=self.queues,
                    kinds=kinds, now=self.clock.now(), lease_seconds=self.lease_seconds, worker_id=self.worker_id,
                )
                claimed = {job.id: self._snapshot(job) for job in jobs}
        except BaseException:
            transport.consumer.put_back(deliveries)  # not settled: try again on the next round
            raise
        held: list[Delivery] = []
        for delivery in deliveries:
            job = claimed.pop(delivery.job_id, None) if delivery.job_id is not None else None
            if job is not None:
                self._start(job, delivery)
            elif delivery.job_id in busy:
                held.append(delivery)  # its row is locked (the relay has yet to commit): ask again soon
            else:
                transport.consumer.skipped += 1
                # The row has nothing to run: finished (a redelivery after a crash between commit and
                # ack), not due, or leased elsewhere.
                log.info("job.delivery_skipped", job_id=delivery.job_id, redelivered=delivery.message.redelivered)
                await delivery.ack()
        transport.consumer.put_back(held)
        return len(deliveries) - len(held)

    def _snapshot(self, job: repository.LeasedJob) -> ClaimedJob:
        return ClaimedJob(id=job.id, kind=job.kind, queue=job.queue, payload=job.payload,
                          attempt=job.attempts, max_attempts=job.max_attempts, lease_token=job.lease_token,
                          traceparent=job.traceparent, request_id=job.request_id,
                          last_attempt_traceparent=job.last_attempt_traceparent)

    def _start(self, job: ClaimedJob, delivery: Delivery | None) -> None:
        task = asyncio.create_task(self._execute_and_ack(job, delivery), name=f"job-{job.id}")
        self._running[job.id] = task
        self.slots.take(job.id, job.queue)
        self.leases.hold(job)
        task.add_done_callback(functools.partial(self._finished, job.id))

    def _lose_lease(self, job_id: int) -> None:
        """The lease keeper found the job's lease gone: stop its handler (its writes roll back)."""
        task = self._running.get(job_id)
        if task is not None and not task.done():
            self._lost.add(job_id)
            task.cancel()

    async def _execute_and_ack(self, job: ClaimedJob, delivery: Delivery | None) -> None:
        try:
            await self._execute(job, delivered=delivery is not None)
            crash_point("jobs.after_commit")
        finally:
            # After the outcome is recorded. Also when recording failed: the row is then still
            # running, and once its lease expires the relay publishes it again.
            if delivery is not None:
                await delivery.ack()

    def _finished(self, job_id: int, task: asyncio.Task[None] | None = None) -> None:
        current = self._running.get(job_id)
        if task is not None and current is not None and current is not task:
            return  # an earlier attempt's task, ending after this worker claimed the job again (a short defer)
        self._running.pop(job_id, None)
        self.slots.release(job_id)
        self._lost.discard(job_id)
        self.leases.drop(job_id)
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

    async def _execute(self, job: ClaimedJob, *, delivered: bool = False) -> None:
        """Run one attempt, in the job's own task, with its log fields bound and its span current
        (`telemetry`); `delivered`: the job id came from the broker."""
        attempt = telemetry.start_attempt(job, worker_id=self.worker_id, delivered=delivered)
        escaped: BaseException | None = None
        try:
            await self._attempt(job, attempt)
        except BaseException as exc:
            escaped = exc
            raise
        finally:
            attempt.end(escaped)

    async def _attempt(self, job: ClaimedJob, attempt: Attempt) -> None:
        """Run the handler and record the outcome; `attempt` is told the outcome (metrics, span)."""
        spec = self.registry.get(job.kind)
        if job.attempt > job.max_attempts:
            await self._record(job, attempt, "dead", lambda s, now: repository.bury(
                s, job_id=job.id, lease_token=job.lease_token, now=now,
                error="attempts exhausted: the worker running the last attempt was lost",
            ))
            return
        try:
            await self._run_handler(job, spec)
            attempt.finish("succeeded")
            log.info("job.succeeded")
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if job.id in self._lost:  # cancelled by the lease keeper
                if current is not None:
                    current.uncancel()
                attempt.finish("lease_lost", exc)
                log.warning("job.lease_lost")
                return
            if self._stopping.is_set():
                if current is not None:
                    current.uncancel()
                await self._record(job, attempt, "released", lambda s, now: repository.release(
                    s, job_id=job.id, lease_token=job.lease_token, now=now, attempt_traceparent=attempt.traceparent
                ))
                log.info("job.released")
                return
            raise
        except LeaseLostError as exc:
            attempt.finish("lease_lost", exc)
            log.warning("job.lease_lost_at_commit")
        except Exception as exc:
            await self._record_failure(job, spec, exc, attempt)

    async def _run_handler(self, job: ClaimedJob, spec: JobKind) -> None:
        """Run the handler; its writes through `ctx.session` commit with the fenced completion.

        A handler that wrote nothing there (the session never began a transaction) has its
        completion written with others ready at the same moment (`CompletionBatch`).
        """
        async with self.database.sessionmaker() as session:
            context = JobContext(
                job=job, session=session, database=self.database, settings=self.settings, clock=self.clock,
                runtime=self.runtime,
            )
            crash_point("jobs.before_handler")
            async with asyncio.timeout(spec.timeout_seconds):
                await spec.handler(context)
            crash_point("jobs.after_handler")
            self.leases.finishing(job.id)
            if not session.in_transaction():
                completed = await self.completions.complete(job)
            else:
                completed = await repository.complete(
                    session, job_id=job.id, lease_token=job.lease_token, now=self.clock.now()
                )
                if completed:
                    await session.commit()
            if not completed:
                raise LeaseLostError(f"job {job.id} lost its lease before completing; rolled back")

    async def _record_failure(self, job: ClaimedJob, spec: JobKind, exc: Exception, attempt: Attempt) -> None:
        if isinstance(exc, DeferJobError):
            delay = max(0.0, exc.retry_after or 0.0)
            log.info("job.deferred", delay_seconds=round(delay, 3), reason=exc.message)
            await self._record(job, attempt, "deferred", lambda s, now: repository.defer(
                s, job_id=job.id, lease_token=job.lease_token, now=now,
                run_at=now + timedelta(seconds=delay), reason=exc.message, attempt_traceparent=attempt.traceparent,
            ))
            return
        error = describe_error(exc)
        if isinstance(exc, TimeoutError):
            error = f"handler timed out after {spec.timeout_seconds}s\n{error}"
        permanent = isinstance(exc, PermanentJobError) or isinstance(exc, spec.permanent_errors)
        if permanent or job.attempt >= job.max_attempts:
            reason = "permanent error" if permanent else "attempts exhausted"
            log.warning("job.dead", reason=reason, error=error.splitlines()[0])
            await self._record(job, attempt, "dead", lambda s, now: repository.bury(
                s, job_id=job.id, lease_token=job.lease_token, now=now, error=error
            ), exc)
            return
        policy = self.retry_policy(spec, job)
        retry_after = exc.retry_after if isinstance(exc, RetryableJobError) else None
        delay = policy.delay(job.attempt, rng=self.rng, retry_after=retry_after)
        log.info("job.retry_scheduled", delay_seconds=round(delay, 3), error=error.splitlines()[0])
        await self._record(job, attempt, "retried", lambda s, now: repository.schedule_retry(
            s, job_id=job.id, lease_token=job.lease_token, now=now,
            run_at=now + timedelta(seconds=delay), error=error, attempt_traceparent=attempt.traceparent,
        ), exc)

    def retry_policy(self, spec: JobKind, job: ClaimedJob) -> RetryPolicy:
        base = spec.backoff_base_seconds or self.settings.job_backoff_base_seconds
        cap = spec.backoff_cap_seconds or self.settings.job_backoff_cap_seconds
        return RetryPolicy(max_attempts=job.max_attempts, base_seconds=base, cap_seconds=max(cap, base))

    async def _record(self, job: ClaimedJob, attempt: Attempt, outcome: str, write: OutcomeWrite,
                      error: BaseException | None = None) -> None:
        """Record an outcome in its own transaction; a lost lease means the new owner decides (the
        attempt's outcome is then `lease_lost`)."""
        async with self.database.transaction() as session:
            recorded = await write(session, self.clock.now())
        attempt.finish(outcome if recorded else "lease_lost", error)
        if not recorded:
            log.warning("job.outcome_fenced_off", job_id=job.id, worker_id=self.worker_id)
