"""Deliveries from the worker's quorum queues, with manual acks and a prefetch limit.

A message carries only a job id; the jobs row decides what happens (see `worker.py`). Guarantees:
- `no_ack=False` and, per queue, a consumer on its own channel with `basic.qos(prefetch[queue])`: the
  broker hands this process at most `prefetch[q]` unacknowledged messages of queue `q` (the worker
  sets it to the queue's slot cap, `jobs/slots.py`, so one queue's deliveries cannot fill the
  worker), and redelivers any it had not acked when the connection drops (a killed worker). So a
  message is acked only once its job's outcome is recorded, or once the row showed it has nothing
  to run (finished, not due, leased elsewhere).
- A body that is not a Seawall job message is rejected without requeue: it is dead-lettered to
  `<queue>.dead` at once. A message that keeps coming back (a consumer crashing on it) is
  dead-lettered by the queue's `x-delivery-limit`.
- On stop, consuming is cancelled and every delivery not yet taken goes back to the queue.
- An ack on a channel that has since been closed (a reconnect) cannot be sent: it is logged and
  dropped; the broker redelivers the message and the row shows it is done.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from seawall.jobs.transport.connection import BrokerLink

log = structlog.get_logger("seawall.jobs.transport")


@dataclass
class Delivery:
    message: AbstractIncomingMessage
    job_id: int | None  # None: not a Seawall job message
    queue: str = ""  # the Seawall queue it came from

    async def ack(self) -> None:
        await self._settle("ack")

    async def requeue(self) -> None:
        """Hand it back unprocessed (`basic.nack`, requeue)."""
        await self._settle("nack")

    async def dead_letter(self) -> None:
        """Reject without requeue: the queue dead-letters it."""
        await self._settle("reject")

    async def _settle(self, how: str) -> None:
        try:
            if how == "ack":
                await self.message.ack()
            elif how == "nack":
                await self.message.nack(requeue=True)
            else:
                await self.message.reject(requeue=False)
        except Exception as exc:  # channel gone: the broker redelivers, and the row decides again
            log.warning("jobs.delivery_settle_failed", how=how, job_id=self.job_id,
                        error=f"{type(exc).__name__}: {exc}")


def parse(message: AbstractIncomingMessage, queue: str = "") -> Delivery:
    try:
        document = json.loads(message.body)
        job_id = document["job_id"] if isinstance(document, dict) else None
    except (ValueError, KeyError):
        job_id = None
    if not isinstance(job_id, int) or isinstance(job_id, bool):
        job_id = None
    return Delivery(message=message, job_id=job_id, queue=queue)


class Consumer:
    """Buffers deliveries per queue for the worker loop, which takes them as each queue has free slots.

    `prefetch`: {queue: unacknowledged deliveries of it this process may hold}, one entry per queue."""

    def __init__(self, link: BrokerLink, *, prefetch: Mapping[str, int], on_delivery: Callable[[], None]) -> None:
        self.link = link
        self.prefetch = dict(prefetch)
        self.on_delivery = on_delivery
        self.skipped = 0  # deliveries acked without running anything (the row had nothing to run)
        self._buffers: dict[str, deque[Delivery]] = {queue: deque() for queue in self.prefetch}
        self._queues: dict[str, AbstractQueue] = {}
        self._consumer_tags: dict[str, str] = {}

    @property
    def pending(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values())

    def pending_of(self, queue: str) -> int:
        buffer = self._buffers.get(queue)
        return len(buffer) if buffer is not None else 0

    async def open(self) -> None:
        """Open the consuming channels (prefetch set, queues declared) without consuming yet."""
        self._queues = await self.link.consuming_channels(prefetch=self.prefetch)

    async def start(self) -> None:
        await self.open()
        for queue, declared in self._queues.items():
            self._consumer_tags[queue] = await declared.consume(functools.partial(self._on_message, queue),
                                                                no_ack=False, timeout=self.link.rpc_timeout)

    async def _on_message(self, queue: str, message: AbstractIncomingMessage) -> None:
        self._buffers.setdefault(queue, deque()).append(parse(message, queue))
        self.on_delivery()

    async def fetch(self, limits: Mapping[str, int]) -> int:
        """Pull up to `limits[q]` messages of each queue `q` with `basic.get` (one-shot runs, which do not
        consume); what is already buffered counts against the limit."""
        fetched = 0
        for queue, declared in self._queues.items():
            room = limits.get(queue, 0) - self.pending_of(queue)
            while room > 0:
                message = await declared.get(no_ack=False, fail=False, timeout=self.link.rpc_timeout)
                if message is None:
                    break
                self._buffers.setdefault(queue, deque()).append(parse(message, queue))
                fetched += 1
                room -= 1
        return fetched

    def take(self, queue: str, limit: int) -> list[Delivery]:
        """Up to `limit` buffered deliveries of `queue`, oldest first."""
        buffer = self._buffers.get(queue)
        taken: list[Delivery] = []
        while buffer and len(taken) < limit:
            taken.append(buffer.popleft())
        return taken

    def put_back(self, deliveries: list[Delivery]) -> None:
        """Deliveries taken but not settled go back to the front of their queue's buffer, in order."""
        for delivery in reversed(deliveries):
            self._buffers.setdefault(delivery.queue, deque()).appendleft(delivery)

    async def stop(self) -> None:
        """Stop consuming and return every delivery not yet taken to the queue."""
        for queue, tag in list(self._consumer_tags.items()):
            try:
                await self._queues[queue].cancel(tag, timeout=self.link.rpc_timeout)
            except Exception as exc:
                log.warning("jobs.consumer_cancel_failed", queue=queue, error=f"{type(exc).__name__}: {exc}")
        self._consumer_tags.clear()
        for buffer in self._buffers.values():
            while buffer:
                await buffer.popleft().requeue()
