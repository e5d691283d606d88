"""Deliveries from the worker's quorum queues, with manual acks and a prefetch limit.

A message carries only a job id; the jobs row decides what happens (see `worker.py`). Guarantees:
- `no_ack=False` and `basic.qos(prefetch_count)`: the broker hands this process at most `prefetch`
  unacknowledged messages, and redelivers any it had not acked when the connection drops (a
  killed worker). So a message is acked only once its job's outcome is recorded, or once the row
  showed it has nothing to run (finished, not due, leased elsewhere).
- A body that is not a Seawall job message is rejected without requeue: it is dead-lettered to
  `<queue>.dead` at once. A message that keeps coming back (a consumer crashing on it) is
  dead-lettered by the queue's `x-delivery-limit`.
- On stop, consuming is cancelled and every delivery not yet taken goes back to the queue.
- An ack on a channel that has since been closed (a reconnect) cannot be sent: it is logged and
  dropped; the broker redelivers the message and the row shows it is done.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from seawall.jobs.transport.connection import BrokerLink

log = structlog.get_logger("seawall.jobs.transport")


@dataclass
class Delivery:
    message: AbstractIncomingMessage
    job_id: int | None  # None: not a Seawall job message

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


def parse(message: AbstractIncomingMessage) -> Delivery:
    try:
        document = json.loads(message.body)
        job_id = document["job_id"] if isinstance(document, dict) else None
    except (ValueError, KeyError):
        job_id = None
    if not isinstance(job_id, int) or isinstance(job_id, bool):
        job_id = None
    return Delivery(message=message, job_id=job_id)


class Consumer:
    """Buffers deliveries for the worker loop, which takes them as it has free slots."""

    def __init__(self, link: BrokerLink, *, prefetch: int, on_delivery: Callable[[], None]) -> None:
        self.link = link
        self.prefetch = prefetch
        self.on_delivery = on_delivery
        self.skipped = 0  # deliveries acked without running anything (the row had nothing to run)
        self._buffer: deque[Delivery] = deque()
        self._queues: dict[str, AbstractQueue] = {}
        self._consumer_tags: dict[str, str] = {}

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def open(self) -> None:
        """Open the consuming channel (prefetch set, queues declared) without consuming yet."""
        self._queues = await self.link.consuming_channel(prefetch=self.prefetch)

    async def start(self) -> None:
        await self.open()
        for queue, declared in self._queues.items():
            self._consumer_tags[queue] = await declared.consume(self._on_message, no_ack=False,
                                                                timeout=self.link.rpc_timeout)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.append(parse(message))
        self.on_delivery()

    async def fetch(self, limit: int) -> int:
        """Pull up to `limit` messages with `basic.get` (one-shot runs, which do not consume)."""
        fetched = 0
        for declared in self._queues.values():
            while fetched < limit:
                message = await declared.get(no_ack=False, fail=False, timeout=self.link.rpc_timeout)
                if message is None:
                    break
                self._buffer.append(parse(message))
                fetched += 1
        return fetched

    def take(self, limit: int) -> list[Delivery]:
        taken: list[Delivery] = []
        while self._buffer and len(taken) < limit:
            taken.append(self._buffer.popleft())
        return taken

    def put_back(self, deliveries: list[Delivery]) -> None:
        self._buffer.extendleft(reversed(deliveries))

    async def stop(self) -> None:
        """Stop consuming and return every delivery not yet taken to the queue."""
        for queue, tag in list(self._consumer_tags.items()):
            try:
                await self._queues[queue].cancel(tag, timeout=self.link.rpc_timeout)
            except Exception as exc:
                log.warning("jobs.consumer_cancel_failed", queue=queue, error=f"{type(exc).__name__}: {exc}")
        self._consumer_tags.clear()
        while self._buffer:
            await self._buffer.popleft().requeue()
