"""A worker's slots, shared by its queues, each queue capped: one slow queue cannot take them all.

A worker runs at most `total` jobs at once (`worker_concurrency`), and at most `caps[q]` of them
from queue `q` (`worker_queue_concurrency`; by default half the slots, rounded up, or all of them
in a worker of one queue: `Settings.queue_slots`). So when one
provider hangs and its queue's jobs hold their slots until they time out, the other queues still
have `total - caps[q]` slots (a bulkhead per queue, as the provider bulkhead is per provider).

A claim goes through the queues in `rotation()` order, taking from each at most `free(queue)` (what
its cap leaves, within the worker's free slots) and at most what is left of the slots free when the
claim began; what one queue does not use is left for the next. The worker claims that many rows of
the queue (table claim) or takes that many of its deliveries (RabbitMQ, where the consumer's
prefetch per queue is also that queue's cap, so its deliveries cannot fill the worker).

`take(job_id, queue)` when a job starts and `release(job_id)` when it ends keep the counts, and
`seawall_worker_slots_in_use{queue}` with them. Not thread-safe: one event loop owns it.
"""

from __future__ import annotations

from collections.abc import Mapping

from seawall.observability.metrics import METRICS


class QueueSlots:
    def __init__(self, caps: Mapping[str, int], *, total: int) -> None:
        """`caps`: {queue: its slot cap >= 1} for every queue the worker serves; `total` >= 1."""
        if total < 1 or any(cap < 1 for cap in caps.values()):
            raise ValueError("every slot count must be at least 1")
        self.total = total
        self.caps = {queue: min(cap, total) for queue, cap in caps.items()}
        self._queue_of: dict[int, str] = {}  # job id -> its queue, for the jobs holding a slot
        self._in_use = dict.fromkeys(self.caps, 0)
        self._turn = 0

    def in_use(self, queue: str) -> int:
        return self._in_use.get(queue, 0)

    def free(self, queue: str) -> int:
        """Slots `queue` could take now: what its cap leaves, within what the worker has free."""
        return max(0, min(self.caps.get(queue, 0) - self.in_use(queue), self.total - len(self._queue_of)))

    def rotation(self) -> list[str]:
        """The queues in the order to serve them at this claim: the first one moves on by one at each
        call, so when free slots are fewer than the queues want, no queue is always served last."""
        queues = list(self.caps)
        if not queues:
            return []
        start = self._turn % len(queues)
        self._turn += 1
        return queues[start:] + queues[:start]

    def take(self, job_id: int, queue: str) -> None:
        """A job of `queue` started (it counts against the cap even beyond it: a caller that claimed more than
        `free(queue)` said is not refused here)."""
        if job_id in self._queue_of:
            return
        self._queue_of[job_id] = queue
        self._in_use[queue] = self._in_use.get(queue, 0) + 1
        METRICS.worker_slots_in_use.labels(queue=queue).inc()

    def release(self, job_id: int) -> None:
        """The job ended (any outcome); a job not holding a slot is ignored."""
        queue = self._queue_of.pop(job_id, None)
        if queue is not None:
            self._in_use[queue] -= 1
            METRICS.worker_slots_in_use.labels(queue=queue).dec()
