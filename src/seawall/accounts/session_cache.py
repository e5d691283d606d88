"""A per-process cache of successful bearer-token lookups, so most requests skip the session query.

Contract:
- Keyed by the token's SHA-256 digest (`kit.tokens.token_digest`, the value the database stores),
  never the token. Values are frozen snapshots (`Principal`): no ORM object outlives the lookup's
  transaction, so nothing a route does can change a cached entry or attach it to another session.
- Only live sessions are cached (a lookup that fails is never stored), at most `max_entries` of them
  (least recently used go first).
- The bound: an entry is served for at most `ttl_seconds` counted from the *start* of the database
  read that found the session live, and never at or after the session's own `expires_at` nor its
  `refresh_at` (both checked against the runtime clock on every hit). A session revoked in another
  process therefore stops working here at most `ttl_seconds` after the revocation committed.
- Idle timeout: `refresh_at` is when the session's last use is due to be written again (it comes
  before its idle deadline), so a session kept busy through the cache still gets its use recorded
  by the next lookup, and one left idle is never served past its idle deadline.
- In this process, a revocation evicts once its transaction commits (`evict_on_commit`: by token
  digest for a logout, by user for a password reset), before the revoking request answers. A
  lookup that was already reading when an eviction happened is not stored (a generation counter),
  so it cannot put the revoked session back.
- `ttl_seconds == 0` turns the cache off: every request reads the database.
- Each lookup of an enabled cache counts in `seawall_cache_requests_total{cache="session", result}`
  (`hit` or `miss`).

Why a cache at all: the lookup is a read transaction per authenticated request, the largest fixed
cost of a cheap route. The snapshot carries no user state worth deciding on (status, plan): a use
case that depends on it reloads the user inside its own transaction.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cachetools import TLRUCache
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from seawall.accounts.models import AuthSession, User
from seawall.db import CommitHook, in_dry_run
from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS

_LOOKUPS = Children(lambda: METRICS.cache_requests)  # (cache, result)


@dataclass(frozen=True, slots=True)
class PrincipalUser:
    """Who is calling, as of the lookup (up to `ttl_seconds` old)."""

    id: str
    email: str


@dataclass(frozen=True, slots=True)
class PrincipalSession:
    id: str
    user_id: str
    token_digest: str
    expires_at: datetime  # absolute expiry
    # When the lookup must go to the database again, to record a use (None: only `expires_at` counts).
    refresh_at: datetime | None = None

    def serves_until(self) -> datetime:
        """The first moment (runtime clock) this snapshot may no longer be served."""
        return self.expires_at if self.refresh_at is None else min(self.expires_at, self.refresh_at)


@dataclass(frozen=True, slots=True)
class Principal:
    user: PrincipalUser
    auth_session: PrincipalSession

    @classmethod
    def of(cls, user: User, auth_session: AuthSession, *, refresh: timedelta) -> Principal:
        """`refresh`: how long after its last recorded use a session's use is recorded again."""
        return cls(
            user=PrincipalUser(id=user.id, email=user.email),
            auth_session=PrincipalSession(id=auth_session.id, user_id=auth_session.user_id,
                                          token_digest=auth_session.token_digest, expires_at=auth_session.expires_at,
                                          refresh_at=auth_session.last_used + refresh),
        )


@dataclass(frozen=True, slots=True)
class LegacySessionPrincipal(Principal):
    """A caller known by the legacy app's session (`seawall.legacy.introspection`), not by a Seawall
    session: `auth_session` names no row (its id is "legacy"), so routes acting on the Seawall session
    itself refuse it (`accounts.auth.CurrentSeawallPrincipal`). Never stored in this cache."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """A database lookup in flight: when it started, and the eviction generation it started in."""

    generation: int
    started: float


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    fresh_until: float  # on the cache's monotonic timer


def _fresh_until(_key: str, entry: _Entry, _now: float) -> float:
    return entry.fresh_until


class SessionCache:
    """Successful lookups of this process; `timer` is monotonic seconds (a fake one in tests)."""

    def __init__(self, *, ttl_seconds: float, max_entries: int, timer: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._timer = timer
        self._entries: TLRUCache[str, _Entry] = TLRUCache(maxsize=max_entries, ttu=_fresh_until, timer=timer)
        self._generation = 0

    @classmethod
    def disabled(cls) -> SessionCache:
        return cls(ttl_seconds=0, max_entries=1)

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_digest: str, *, now: datetime) -> Principal | None:
        """The cached principal, or None (unknown, older than the TTL, its session has expired, or
        its use is due to be recorded)."""
        if not self.enabled:
            return None
        entry = self._entries.get(token_digest)
        if entry is not None and entry.principal.auth_session.serves_until() <= now:
            self._entries.pop(token_digest, None)
            entry = None
        _LOOKUPS("session", "miss" if entry is None else "hit").inc()
        return entry.principal if entry is not None else None

    def begin_lookup(self) -> Lookup:
        """Call before reading the database; hand the result to `put`."""
        return Lookup(generation=self._generation, started=self._timer())

    def put(self, token_digest: str, principal: Principal, *, lookup: Lookup) -> None:
        """Remember a live session found by `lookup`, unless an eviction happened meanwhile."""
        if not self.enabled or lookup.generation != self._generation or in_dry_run():
            return  # a dry run (shadow call) may have read a session it created and rolled back
        self._entries[token_digest] = _Entry(principal=principal, fresh_until=lookup.started + self.ttl_seconds)

    def evict(self, *, token_digests: Iterable[str] = (), user_ids: Iterable[str] = ()) -> None:
        """Forget these sessions and every session of these users (and any lookup in flight)."""
        self._generation += 1
        for digest in token_digests:
            self._entries.pop(digest, None)
        users = set(user_ids)
        if users:
            for digest in list(self._entries.keys()):
                entry = self._entries.get(digest)
                if entry is not None and entry.principal.user.id in users:
                    self._entries.pop(digest, None)


_caches: weakref.WeakKeyDictionary[Engine, SessionCache] = weakref.WeakKeyDictionary()


def register(engine: Engine, cache: SessionCache) -> None:
    """Revocations committed on `engine` (a sync engine) evict from `cache`."""
    _caches[engine] = cache


def _evict_committed(session: Session, revoked: set[Any]) -> None:
    bind = session.bind
    cache = _caches.get(bind) if isinstance(bind, Engine) else None
    if cache is None:
        return
    cache.evict(token_digests=[value for kind, value in revoked if kind == "session"],
                user_ids=[value for kind, value in revoked if kind == "user"])


_revoked = CommitHook("seawall.accounts.revoked_sessions", _evict_committed)


def evict_on_commit(session: AsyncSession | Session, *, token_digests: Iterable[str] = (),
                    user_ids: Iterable[str] = ()) -> None:
    """Once this transaction commits, evict these sessions and users' sessions in this process."""
    _revoked.add(session, [*(("session", d) for d in token_digests), *(("user", u) for u in user_ids)])
