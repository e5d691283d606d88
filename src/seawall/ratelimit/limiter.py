"""Spend a request's quotas: moving windows from `limits`, in Redis (server mode) or in process.

`RateLimiter.check(partitions)` hits each quota's windows in order and stops at the first that is
exhausted (earlier hits stay spent: a client over one limit cannot use the refusal to probe the
others). Moving-window acquisition is atomic in both storages (a Lua script in Redis, a per-key
lock in memory), so concurrent requests can never get past a limit together.

Redis unreachable (or failing mid-check), with `rate_limit_fail_open`:
- true: the same quotas are enforced per process by the in-process storage, and a warning is
  logged (once per "Redis is down" memo period, see `seawall.redis_link`);
- false: the verdict is `unavailable` (the middleware answers 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

from seawall.ratelimit.policy import Partition
from seawall.redis_link import RedisLink, RedisUnavailableError

log = structlog.get_logger("seawall.ratelimit")

T = TypeVar("T")


async def _run(link: RedisLink | None, operation: Callable[[], Awaitable[T]]) -> T:
    return await operation() if link is None else await link.run(operation)


@dataclass
class Verdict:
    allowed: bool
    unavailable: bool = False  # fail closed: the shared storage could not be asked
    retry_after: int = 0
    violated: str | None = None
    states: list[tuple[str, int, int]] = field(default_factory=list)  # (policy, remaining, reset seconds)


class RateLimiter:
    def __init__(self, *, link: RedisLink | None, fail_open: bool) -> None:
        self.link = link
        self.fail_open = fail_open
        self.memory = MemoryStorage()
        self.local = MovingWindowRateLimiter(self.memory)
        self.shared: MovingWindowRateLimiter | None = None
        if link is not None:
            storage = RedisStorage("async+redis://", implementation="redispy", key_prefix=link.prefix + "ratelimit",
                                   connection_pool=link.client.connection_pool)  # type: ignore[arg-type]
            self.shared = MovingWindowRateLimiter(storage)

    async def check(self, partitions: list[Partition]) -> Verdict:
        if self.shared is not None and self.link is not None:
            try:
                return await self._check(self.shared, partitions, self.link)
            except RedisUnavailableError:
                if not self.fail_open:
                    return Verdict(allowed=False, unavailable=True,
                                   retry_after=max(1, math.ceil(self.link.seconds_until_retry())))
        return await self._check(self.local, partitions, None)

    async def _check(self, limiter: MovingWindowRateLimiter, partitions: list[Partition],
                     link: RedisLink | None) -> Verdict:
        async def hit(item: RateLimitItem, partition: Partition) -> bool:
            return await _run(link, lambda: limiter.hit(item, partition.quota.name, partition.key))

        spent: list[tuple[str, RateLimitItem, Partition]] = []
        violated: tuple[str, RateLimitItem, Partition] | None = None
        for partition in partitions:
            for item in partition.quota.items:
                entry = (partition.quota.policy_name(item), item, partition)
                allowed = await hit(item, partition)
                spent.append(entry)
                if not allowed:
                    violated = entry
                    break
            if violated is not None:
                break

        async def stats_of(item: RateLimitItem, partition: Partition) -> WindowStats:
            return await _run(link, lambda: limiter.get_window_stats(item, partition.quota.name, partition.key))

        stats = await asyncio.gather(*(stats_of(item, p) for _name, item, p in spent))
        now = time.time()
        states = [(name, stat.remaining, math.ceil(max(0.0, stat.reset_time - now)))
                  for (name, _item, _p), stat in zip(spent, stats, strict=True)]
        if violated is None:
            return Verdict(allowed=True, states=states)
        reset = next(s[2] for s in states if s[0] == violated[0])
        return Verdict(allowed=False, retry_after=max(1, reset), violated=violated[0], states=states)

    async def aclose(self) -> None:
        timer = getattr(self.memory, "timer", None)
        if timer is not None and not timer.done():
            timer.cancel()
