"""Cache-aside for hot reads (`GET /v1/me`, `GET /v1/payments/{id}`).

Server mode keeps the values in Redis; embedded mode in a bounded in-process LRU shared by every
`Runtime` of the process on the same database. Keys name the owner (`("payment", user_id,
payment_id)`), writes invalidate after commit (`invalidation`), loads are single-flight
(`read_cache`), and a Redis outage bypasses the cache. See the modules' docstrings.
"""

from __future__ import annotations

import weakref

from seawall.cache.invalidation import invalidate_on_commit, register, track
from seawall.cache.read_cache import CacheStats, ReadCache
from seawall.cache.stores import CacheKey, MemoryStore
from seawall.config import Settings
from seawall.redis_link import RedisLink

__all__ = ["CacheKey", "CacheStats", "ReadCache", "build_read_cache", "invalidate_on_commit", "register", "track"]

_memory_stores: weakref.WeakValueDictionary[str, MemoryStore] = weakref.WeakValueDictionary()


def build_read_cache(settings: Settings, link: RedisLink | None, *, in_process: bool = True) -> ReadCache:
    """Redis when configured; otherwise this process's store for the database, if `in_process`.

    `in_process=False` is for an API process without Redis whose writers (workers) run elsewhere:
    it could not hear their invalidations, so it does not cache.
    """
    memory = None
    if link is None and in_process:
        url = settings.resolved_database_url
        memory = _memory_stores.get(url)
        if memory is None:
            memory = MemoryStore(max_entries=settings.cache_max_entries)
            _memory_stores[url] = memory
    return ReadCache(enabled=settings.cache_enabled, ttl_seconds=settings.cache_ttl_seconds,
                     lock_seconds=settings.cache_lock_seconds, memory=memory, link=link)
