"""Cache-aside for hot reads, with single-flight loading and bypass when Redis is down.

`ReadCache.get_or_load(key, loader)`:
1. Within this process, one loader per key at a time: concurrent callers of a missing key await
   the first caller's load (single-flight).
2. Server mode: a hit in Redis is returned. On a miss the caller takes a short Redis lock
   (`cache_lock_seconds`); the lock holder loads and stores, the others poll Redis for the value
   until the lock would expire, then load themselves. So N processes missing one key cause one
   database read, and a dead lock holder delays the others by the lock time at most.
3. Embedded mode: a bounded in-process LRU with a TTL.
Values are stored only if no invalidation of the key happened while they loaded (see `stores`).
`store=False` (a value read from a read replica, which may not have replayed the write behind the last
invalidation yet: `seawall.replicas`): a hit is returned as usual; a miss loads without the Redis lock and
returns the value without storing it.

Redis down (or failing mid-request): the cache is bypassed — the loader runs and its answer is
returned, so a cache outage never fails a read. Writes invalidate after commit (`invalidation`);
the TTL is only the backstop.

Each `get_or_load` of an active cache counts once in `seawall_cache_requests_total{cache="read",
result}`: `hit` when the value came from the cache, from another process's load (the lock), or from
a load this process already had in flight (single-flight); `miss` when this call ran the loader
(Redis unavailable included).

Why hand-written: aiocache and cashews offer TTL caches and locks but not the generation-checked
set that keeps a slow reader from re-caching a row a writer has just changed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from seawall.cache.stores import CacheKey, MemoryStore, RedisStore
from seawall.db import in_dry_run
from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS
from seawall.redis_link import RedisLink, RedisUnavailableError

log = structlog.get_logger("seawall.cache")

LOCK_POLL_SECONDS = 0.02

Loader = Callable[[], Awaitable[Any]]


@dataclass
class CacheStats:
    hits: int = 0
    bypassed: int = 0  # loads made without the cache because Redis was unavailable
    loads_by_key: dict[CacheKey, int] = field(default_factory=dict)


_LOOKUPS = Children(lambda: METRICS.cache_requests)  # (cache, result)


def _count(result: str) -> None:
    _LOOKUPS("read", result).inc()


class ReadCache:
    def __init__(self, *, enabled: bool, ttl_seconds: float, lock_seconds: float,
                 memory: MemoryStore | None, link: RedisLink | None) -> None:
        self.enabled = enabled
        self.ttl_seconds = ttl_seconds
        self.lock_seconds = lock_seconds
        self.memory = memory  # embedded mode (None in server mode or when this process may not cache)
        self.redis = RedisStore(link) if link is not None else None
        self.stats = CacheStats()
        self._flights: dict[CacheKey, asyncio.Future[Any]] = {}

    @property
    def active(self) -> bool:
        return self.enabled and (self.redis is not None or self.memory is not None)

    async def get_or_load(self, key: CacheKey, loader: Loader, *, store: bool = True) -> Any:
        if not self.active:
            return await self._load(key, loader)
        if not store or in_dry_run():  # a dry run (shadow call) may read what it wrote and rolls back: keep none
            return await self._get_or_load_unstored(key, loader)
        flight = self._flights.get(key)
        if flight is not None:
            _count("hit")
            return await asyncio.shield(flight)
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await self._get_or_load_once(key, loader)
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # followers (if any) re-raise it; this marks it retrieved
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[key]

    async def _get_or_load_unstored(self, key: CacheKey, loader: Loader) -> Any:
        """A hit, else the loader's value, not stored (and no lock taken: no other process waits for it)."""
        if self.redis is not None:
            try:
                cached = await self.redis.get(key)
            except RedisUnavailableError:
                cached = None
        else:
            assert self.memory is not None
            cached = self.memory.get(key)
        return cached if self._counted(cached) else await self._load(key, loader)

    def _counted(self, cached: Any | None) -> bool:
        """Count one lookup (`hit` when `cached` holds a value, else `miss`); True for a hit."""
        if cached is None:
            _count("miss")
            return False
        self.stats.hits += 1
        _count("hit")
        return True

    async def _get_or_load_once(self, key: CacheKey, loader: Loader) -> Any:
        if self.redis is not None:
            return await self._through_redis(self.redis, key, loader)
        assert self.memory is not None
        cached = self.memory.get(key)
        if self._counted(cached):
            return cached
        token = self.memory.token()
        value = await self._load(key, loader)
        self.memory.set_if_unchanged(key, value, token=token, ttl=self.ttl_seconds)
        return value

    async def _through_redis(self, redis: RedisStore, key: CacheKey, loader: Loader) -> Any:
        owner, locked = secrets.token_hex(8), False
        try:
            cached, token = await redis.get_with_token(key)
            if cached is not None:
                self.stats.hits += 1
                _count("hit")
                return cached
            locked = await redis.try_lock(key, owner=owner, seconds=self.lock_seconds)
            if not locked:
                cached = await self._await_other_loader(redis, key)
                if cached is not None:
                    self.stats.hits += 1
                    _count("hit")
                    return cached
                cached, token = await redis.get_with_token(key)
                if cached is not None:
                    _count("hit")
                    return cached
        except RedisUnavailableError:
            self.stats.bypassed += 1
            _count("miss")
            return await self._load(key, loader)
        _count("miss")
        value = await self._load(key, loader)
        try:
            await redis.set_if_unchanged(key, value, token=token, ttl=self.ttl_seconds)
            if locked:
                await redis.release_lock(key, owner=owner)
        except RedisUnavailableError:
            self.stats.bypassed += 1
        return value

    async def _await_other_loader(self, redis: RedisStore, key: CacheKey) -> Any | None:
        """Another process holds the loader lock: poll for its value until the lock would expire."""
        waited = 0.0
        while waited < self.lock_seconds:
            await asyncio.sleep(LOCK_POLL_SECONDS)
            waited += LOCK_POLL_SECONDS
            cached = await redis.get(key)
            if cached is not None:
                return cached
        return None

    async def _load(self, key: CacheKey, loader: Loader) -> Any:
        self.stats.loads_by_key[key] = self.stats.loads_by_key.get(key, 0) + 1
        if len(self.stats.loads_by_key) > 10_000:
            self.stats.loads_by_key.clear()
        return await loader()

    # -- invalidation ---------------------------------------------------------------------------

    def invalidate_local(self, keys: Iterable[CacheKey]) -> None:
        if self.memory is None:
            return
        for key in keys:
            self.memory.invalidate(key)

    async def invalidate_shared(self, keys: Iterable[CacheKey]) -> None:
        """Bump the keys' generations and delete them in Redis; a failure is logged (TTL backstop)."""
        if self.redis is None:
            return
        batch = list(keys)
        try:
            await self.redis.invalidate(batch, generation_ttl=2 * self.ttl_seconds + self.lock_seconds + 60)
        except RedisUnavailableError as exc:
            log.warning("cache.invalidation_failed", keys=len(batch), error=str(exc)[:200],
                        stale_for_at_most_seconds=self.ttl_seconds)

    async def invalidate(self, keys: Iterable[CacheKey]) -> None:
        batch = list(keys)
        self.invalidate_local(batch)
        await self.invalidate_shared(batch)
