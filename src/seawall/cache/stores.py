"""Where cached views live: Redis (server mode) or a bounded TTL map in this process (embedded).

Both stores make a *stale set* impossible: a reader takes a `token` before it loads from the
database and stores its result only if no invalidation of that key happened since. The token is a
per-key generation in Redis (`<prefix>cache-gen:<key>`, bumped by every invalidation) and a
process-wide epoch in memory. So a reader that loaded the row just before a writer committed can
never put the old row back after the writer's invalidation.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

from seawall.redis_link import RedisLink

CacheKey = tuple[str, ...]

_SET_IF_GENERATION = """
local generation = redis.call('GET', KEYS[2]) or '0'
if generation == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class MemoryStore:
    """A bounded LRU of `(expires_at, value)`, with the invalidation epochs that fence sets (a set
    started before an invalidation is dropped)."""

    def __init__(self, *, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, tuple[float, Any]] = OrderedDict()
        self._invalidated: OrderedDict[CacheKey, int] = OrderedDict()
        self._epoch = 0
        self._forgotten_epoch = 0  # newest epoch among invalidation records dropped to stay bounded

    def get(self, key: CacheKey) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def token(self) -> int:
        return self._epoch

    def set_if_unchanged(self, key: CacheKey, value: Any, *, token: int, ttl: float) -> bool:
        if self._invalidated.get(key, self._forgotten_epoch) > token:
            return False
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def invalidate(self, key: CacheKey) -> None:
        self._epoch += 1
        self._entries.pop(key, None)
        self._invalidated[key] = self._epoch
        self._invalidated.move_to_end(key)
        while len(self._invalidated) > self.max_entries:
            _key, epoch = self._invalidated.popitem(last=False)
            self._forgotten_epoch = max(self._forgotten_epoch, epoch)

    def __len__(self) -> int:
        return len(self._entries)


class RedisStore:
    """Values as JSON under `<prefix>cache:<key>`; generations and loader locks beside them.

    Every method may raise `RedisUnavailableError` (through `RedisLink.run`); the cache bypasses.
    """

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._set_if_generation = link.client.register_script(_SET_IF_GENERATION)
        self._release_lock = link.client.register_script(_RELEASE_LOCK)

    def _keys(self, key: CacheKey) -> tuple[str, str, str]:
        return self.link.key("cache", *key), self.link.key("cache-gen", *key), self.link.key("cache-lock", *key)

    async def get_with_token(self, key: CacheKey) -> tuple[Any | None, str]:
        value_key, generation_key, _ = self._keys(key)

        async def read() -> list[Any]:
            result: list[Any] = await self.link.client.mget([value_key, generation_key])
            return result

        raw, generation = await self.link.run(read)
        token = generation.decode() if generation is not None else "0"
        return (json.loads(raw) if raw is not None else None), token

    async def get(self, key: CacheKey) -> Any | None:
        raw = await self.link.run(lambda: self.link.client.get(self._keys(key)[0]))
        return json.loads(raw) if raw is not None else None

    async def set_if_unchanged(self, key: CacheKey, value: Any, *, token: str, ttl: float) -> bool:
        value_key, generation_key, _ = self._keys(key)
        payload = json.dumps(value, separators=(",", ":"))
        stored = await self.link.run(lambda: self._set_if_generation(
            keys=[value_key, generation_key], args=[token, payload, max(1, int(ttl * 1000))]))
        return bool(stored)

    async def try_lock(self, key: CacheKey, *, owner: str, seconds: float) -> bool:
        lock_key = self._keys(key)[2]
        acquired = await self.link.run(
            lambda: self.link.client.set(lock_key, owner, nx=True, px=max(1, int(seconds * 1000))))
        return bool(acquired)

    async def release_lock(self, key: CacheKey, *, owner: str) -> None:
        lock_key = self._keys(key)[2]
        await self.link.run(lambda: self._release_lock(keys=[lock_key], args=[owner]))

    async def invalidate(self, keys: list[CacheKey], *, generation_ttl: float) -> None:
        async def bump() -> None:
            async with self.link.client.pipeline(transaction=True) as pipe:
                for key in keys:
                    value_key, generation_key, _ = self._keys(key)
                    pipe.incr(generation_key)
                    pipe.pexpire(generation_key, max(1, int(generation_ttl * 1000)))
                    pipe.delete(value_key)
                await pipe.execute()

        await self.link.run(bump)
