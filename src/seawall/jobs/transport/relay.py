"""The relay: moves due job ids from the jobs table to the broker, one quorum queue per Seawall queue.

Guarantees, and why:
- **Nothing due is left behind.** Each round selects, by state, the rows that need a message: queued,
  due and not yet published (`published_at IS NULL`), plus running rows whose lease expired and that
  were not published since (a frozen or killed worker). Never "ids above the last one sent": ids are
  assigned at insert but commit in any order, so a high-water mark would skip a slow transaction's job.
- **Marked only once the broker has it.** The rows are locked `FOR UPDATE SKIP LOCKED` for the round;
  messages go out persistent, `mandatory`, on a channel with publisher confirms; only the ids the
  broker confirmed get `published_at`, in the same transaction. A nack, a timeout or a return leaves
  the row unpublished, so the next round sends it again. A return means the queue is missing: the
  relay declares the topology again first.
- **Any number of relays at once.** SKIP LOCKED gives concurrent relays disjoint rows. A crash
  between the broker's confirm and the commit publishes a job twice; that is harmless, because a
  consumer claims through the row and acks a message whose job has nothing to run.
- Every requeue (retry, defer, release at drain, replay from the DLQ) clears `published_at`
  (`repository`), so the job is published again when it is due.

Each message also carries, as AMQP headers, the job's stored W3C `traceparent` and its originating
`request_id` (when it has them), for other consumers and for anyone watching the broker. Seawall's
own worker ignores them: it continues the trace from the row it claims, which is authoritative.
Metrics: `seawall_relay_published_total{queue}` counts confirmed messages, and
`seawall_relay_publish_lag_seconds{queue}` the time from a job being due (its `next_run_at`, or its
lease's expiry) to the broker's confirm.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import structlog
from aio_pika import DeliveryMode, Message
from aio_pika.exceptions import PublishError

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import repository
from seawall.jobs.transport import topology
from seawall.jobs.transport.connection import BrokerLink
from seawall.kit.clock import Clock
from seawall.observability.metrics import METRICS

log = structlog.get_logger("seawall.jobs.transport")


def job_message(job_id: int, *, traceparent: str | None = None, request_id: str | None = None) -> Message:
    headers: dict[str, Any] = {name: value for name, value in (("traceparent", traceparent),
                                                               ("request_id", request_id)) if value}
    return Message(json.dumps({"job_id": job_id}).encode(), content_type="application/json",
                   delivery_mode=DeliveryMode.PERSISTENT, type="seawall.job", headers=headers or None)


class Relay:
    def __init__(self, link: BrokerLink, *, database: Database, settings: Settings, queues: list[str],
                 kinds: list[str], clock: Clock) -> None:
        self.link = link
        self.database = database
        self.settings = settings
        self.queues = queues
        self.kinds = kinds
        self.clock = clock
        self.interval = settings.broker_relay_interval_seconds or settings.job_poll_interval_seconds
        self.published = 0  # messages the broker confirmed
        self.returned = 0  # publishes the broker handed back as unroutable (each is retried)
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def publish_due(self) -> int:
        """One round: publish up to a batch of publishable jobs; return how many the broker confirmed."""
        if not self.link.available or not self.kinds:
            return 0
        now = self.clock.now()
        returned: list[int] = []
        failures: list[BaseException] = []
        async with self.database.transaction() as session:
            rows = await repository.lock_publishable(session, queues=self.queues, kinds=self.kinds, now=now,
                                                     limit=self.settings.broker_relay_batch_size)
            if not rows:
                return 0
            results = await asyncio.gather(*(self._publish(row) for row in rows), return_exceptions=True)
            confirmed_at = self.clock.now()
            confirmed = []
            per_queue: Counter[str] = Counter()
            for row, result in zip(rows, results, strict=True):
                if result is None:
                    confirmed.append(row.id)
                    per_queue[row.queue] += 1
                    METRICS.relay_publish_lag.labels(row.queue).observe(
                        max(0.0, (confirmed_at - row.due_at).total_seconds()))
                elif isinstance(result, PublishError):
                    returned.append(row.id)
                else:
                    failures.append(result)
            await repository.mark_published(session, job_ids=confirmed, now=now)
        for queue, count in per_queue.items():
            METRICS.relay_published.labels(queue).inc(count)
        self.published += len(confirmed)
        if returned:
            self.returned += len(returned)
            log.warning("jobs.relay_returned", job_ids=returned[:20], count=len(returned))
            await self.link.redeclare()
        if failures:
            log.warning("jobs.relay_publish_failed", count=len(failures),
                        error=f"{type(failures[0]).__name__}: {failures[0]}")
        return len(confirmed)

    async def _publish(self, job: repository.Publishable) -> None:
        assert self.link.publisher is not None
        await self.link.publisher.default_exchange.publish(
            job_message(job.id, traceparent=job.traceparent, request_id=job.request_id),
            routing_key=topology.queue_name(self.settings, job.queue), mandatory=True,
            timeout=self.settings.broker_confirm_timeout_seconds,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish rounds until `stopping` is set: at once while there is more, else every interval or wake."""
        while not stopping.is_set():
            self._wakeup.clear()
            more = False
            try:
                published = await self.publish_due()
                more = published >= self.settings.broker_relay_batch_size
            except Exception as exc:  # database or broker briefly away: the rows stay unpublished
                log.warning("jobs.relay_error", error=f"{type(exc).__name__}: {exc}")
            if more:
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.interval)
            except TimeoutError:
                pass
