"""Invalidation on write, after commit, wherever the write happens (API request or worker job).

Contract:
- A domain declares which cached views a row feeds: `track(User, lambda user: [("user", user.id)])`.
- Every flush of a session records the keys of the tracked rows it inserts, updates or deletes
  (`session.info`); code that writes with bulk `UPDATE` statements calls `invalidate_on_commit`.
- After the outermost transaction commits, the keys are invalidated in the `ReadCache` registered
  for the session's engine (`register`): at once in this process's memory, and in Redis before the
  commit call returns to its caller (via SQLAlchemy's `await_only`, which runs the Redis round
  trip inside the greenlet that is committing). So an API answer or a job completion is never
  observed before the invalidation it implies. Rolled-back work invalidates nothing.
- Other processes: in server mode the value lives only in Redis, so deleting it there is seen by
  every process; in embedded mode every writer shares the process (`seawall serve`).

A failed Redis invalidation is logged and left to the TTL; it never fails the commit.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.util import await_only

from seawall.cache.read_cache import ReadCache
from seawall.cache.stores import CacheKey
from seawall.db import CommitHook

log = structlog.get_logger("seawall.cache")

KeysOf = Callable[[Any], Iterable[CacheKey]]

_tracked: dict[type, KeysOf] = {}
_caches: weakref.WeakKeyDictionary[Engine, ReadCache] = weakref.WeakKeyDictionary()


def track(model: type, keys_of: KeysOf) -> None:
    """Rows of `model` feed the cached views named by `keys_of(row)`."""
    _tracked[model] = keys_of


def register(engine: Engine, cache: ReadCache) -> None:
    """Commits on `engine` (a sync engine: `AsyncEngine.sync_engine`) invalidate in `cache`."""
    _caches[engine] = cache


def _invalidate_committed(session: Session, keys: set[CacheKey]) -> None:
    bind = session.bind
    cache = _caches.get(bind) if isinstance(bind, Engine) else None
    if cache is None:
        return
    cache.invalidate_local(keys)
    if cache.redis is not None:
        await_only(cache.invalidate_shared(keys))  # never raises for Redis errors: it logs them


_pending = CommitHook("seawall.cache.pending_invalidations", _invalidate_committed)


def invalidate_on_commit(session: AsyncSession | Session, keys: Iterable[CacheKey]) -> None:
    _pending.add(session, keys)


@event.listens_for(Session, "after_flush")
def _record_flushed_rows(session: Session, _flush_context: UOWTransaction) -> None:
    if not _tracked:
        return
    dirty = session.dirty
    keys: set[CacheKey] = set()
    for instance in (*session.new, *dirty, *session.deleted):
        keys_of = _tracked.get(type(instance))
        if keys_of is None or (instance in dirty and not session.is_modified(instance)):
            continue
        keys.update(keys_of(instance))
    if keys:
        _pending.add(session, keys)
