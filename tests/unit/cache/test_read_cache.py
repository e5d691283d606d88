"""The in-process read cache: hits, bounded size, and no stale set after an invalidation."""

from __future__ import annotations

import asyncio

from seawall.cache import ReadCache
from seawall.cache.stores import MemoryStore


def memory_cache(max_entries: int = 100) -> ReadCache:
    return ReadCache(enabled=True, ttl_seconds=60, lock_seconds=1, memory=MemoryStore(max_entries=max_entries),
                     link=None)


async def test_a_hit_does_not_load_again() -> None:
    cache, loads = memory_cache(), []

    async def load() -> int:
        loads.append(1)
        return 7

    assert [await cache.get_or_load(("k",), load) for _ in range(3)] == [7, 7, 7]
    assert len(loads) == 1 and cache.stats.hits == 2


async def test_concurrent_misses_share_one_load() -> None:
    cache, loads = memory_cache(), []
    release = asyncio.Event()

    async def load() -> int:
        loads.append(1)
        await release.wait()
        return 7

    tasks = [asyncio.create_task(cache.get_or_load(("k",), load)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [7] * 10
    assert len(loads) == 1


async def test_an_invalidation_during_a_load_keeps_the_old_value_out() -> None:
    cache = memory_cache()
    loading, invalidated = asyncio.Event(), asyncio.Event()

    async def old_row() -> str:
        loading.set()
        await invalidated.wait()
        return "old"

    reader = asyncio.create_task(cache.get_or_load(("k",), old_row))
    await loading.wait()
    await cache.invalidate([("k",)])
    invalidated.set()
    assert await reader == "old"

    async def new_row() -> str:
        return "new"

    assert await cache.get_or_load(("k",), new_row) == "new"


async def test_errors_are_not_cached() -> None:
    cache, calls = memory_cache(), []

    async def missing() -> str:
        calls.append(1)
        raise LookupError("no such row")

    for _ in range(2):
        try:
            await cache.get_or_load(("k",), missing)
        except LookupError:
            pass
    assert len(calls) == 2


def test_the_memory_store_is_bounded() -> None:
    store = MemoryStore(max_entries=3)
    for n in range(10):
        store.set_if_unchanged((str(n),), n, token=store.token(), ttl=60)
    assert len(store) == 3
    assert store.get(("9",)) == 9 and store.get(("0",)) is None
    for n in range(10):
        store.invalidate((f"gone-{n}",))  # invalidation records stay bounded too
    token = store.token()
    assert store.set_if_unchanged(("fresh",), 1, token=token, ttl=60)
