"""Where a signed-in user's reads go: the replica, or the primary, and why (`seawall_db_reads_total`).

Contract:
- `ReadRouter.for_user(user_id)` gives the `UserReads` of one request. Its reads go to the replica unless
  (in this order) the replica is not usable (`ReplicaHealth.verdict`: `replica_down`, `replica_lagging`)
  or the user wrote within the read-your-writes window (`WriteMarks`: `read_your_writes`), or their mark
  could not be looked up (Redis unreachable: `marks_unavailable`); then to the primary. Without
  `SEAWALL_DATABASE_REPLICA_URL` every read is the primary's `read_transaction()`, as before
  (`not_configured`; no extra await, no query).
- A read that fails on the replica (a connection refused or broken, a timeout, a statement cancelled by
  replay) never becomes a 500. `UserReads.run(operation)` runs the operation again on the primary;
  `UserReads.read_transaction()` (the `Depends` form, whose route runs after the session is handed over)
  falls back when the replica cannot start the transaction (the checkout is tested with a round trip:
  `ReplicaEngine`); a failure after that, inside the route, is answered 503 `unavailable` in the one error
  shape (`ServiceUnavailableError`). Either way the replica counts as down until its next check
  (`report_failure`), so the next reads go to the primary.
- `UserReads.cached(cache, key, operation)`: the read cache's value when it has one; on a miss, the
  operation on the chosen database. A value read from the replica is returned but not stored: the cache
  is invalidated when a write commits on the primary, and a replica that has not replayed that write yet
  would put the old value back for the cache's whole TTL.
- Reads on the primary are `Database.read_transaction()` (REPEATABLE READ READ ONLY), as without a replica.

What stays on the primary, by design (callers use `Database` directly, never this router):
- authentication (bearer-token and session look-ups): a revoked or new session must count at once, and
  the look-up writes `last_used_at`; operator routes (`/admin`), whose users check what just happened;
- every write, and the reads inside a write's transaction (idempotency records, row locks);
- `seawall doctor`, the routine checks (ledger, reconcile, purge) and every job handler: they decide on
  what they read (a settlement, a retry, an alarm), so they must read the latest committed state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.cache import ReadCache
from seawall.cache.stores import CacheKey
from seawall.config import Settings
from seawall.db import Database
from seawall.errors import ServiceUnavailableError
from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS
from seawall.redis_link import RedisLink
from seawall.replicas.engine import ReplicaEngine
from seawall.replicas.health import ReplicaHealth
from seawall.replicas.marks import WriteMarks

log = structlog.get_logger("seawall.replicas")

T = TypeVar("T")
Operation = Callable[[AsyncSession], Awaitable[T]]

# What a read that failed on the replica may raise: the driver's errors, a refused or dropped socket, a
# connect or statement timeout, a full pool. Anything else (a domain error such as 404) is the answer.
REPLICA_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError, PoolTimeoutError)

_READS = Children(lambda: METRICS.db_reads)  # (target, reason)


def _count(target: str, reason: str) -> None:
    _READS(target, reason).inc()


class ReadRouter:
    """The process's routing of user-facing reads (one per process role; see the module's contract)."""

    def __init__(self, database: Database, *, replica: ReplicaEngine | None = None,
                 health: ReplicaHealth | None = None, marks: WriteMarks | None = None) -> None:
        self.database = database
        self.replica = replica
        self.health = health
        self.marks = marks

    @classmethod
    def build(cls, settings: Settings, database: Database, *, link: RedisLink | None) -> ReadRouter:
        replica = ReplicaEngine.build(settings)
        if replica is None:
            return cls(database)
        health = ReplicaHealth(replica, primary=database, max_lag_seconds=settings.database_replica_max_lag_seconds,
                               check_interval_seconds=settings.database_replica_check_interval_seconds)
        marks = WriteMarks(window_seconds=settings.database_replica_read_your_writes_seconds, link=link)
        return cls(database, replica=replica, health=health, marks=marks)

    @property
    def configured(self) -> bool:
        return self.replica is not None

    def log_start(self) -> None:
        """One line at an API process's start: where reads go, and (without Redis) that read-your-writes
        holds per process only."""
        if self.replica is None or self.health is None or self.marks is None:
            return
        log.info("replica.reads_routed", replica=self.replica.url_text, max_lag_seconds=self.health.max_lag_seconds,
                 read_your_writes_seconds=self.marks.window_seconds, shared_marks=self.marks.link is not None)
        if self.marks.link is None:
            log.warning("replica.read_your_writes_per_process",
                        note="SEAWALL_REDIS_URL is not set: after a user's write, only the API process that served "
                             "it sends that user's reads to the primary; set SEAWALL_REDIS_URL to share the marks")

    def for_user(self, user_id: str) -> UserReads:
        return UserReads(self, user_id)

    async def choose(self, user_id: str) -> str:
        """`replica`, or why the primary: `replica_down`, `replica_lagging`, `read_your_writes`,
        `marks_unavailable`."""
        assert self.health is not None and self.marks is not None
        verdict = await self.health.verdict()
        if verdict != "usable":
            return verdict
        mark = await self.marks.look_up(user_id)
        if mark == "marked":
            return "read_your_writes"
        if mark == "unavailable":
            return "marks_unavailable"
        return "replica"

    async def wrote(self, user_id: str) -> None:
        """The user's request wrote: their reads go to the primary for the window (no-op without a replica)."""
        if self.marks is not None:
            await self.marks.mark(user_id)

    def replica_failed(self, error: BaseException) -> None:
        assert self.health is not None
        self.health.report_failure(error)

    async def aclose(self) -> None:
        if self.health is not None:
            await self.health.aclose()
        if self.replica is not None:
            await self.replica.dispose()


class UserReads:
    """One request's reads that may be stale, by one signed-in user."""

    def __init__(self, router: ReadRouter, user_id: str) -> None:
        self.router = router
        self.user_id = user_id

    async def run(self, operation: Operation[T]) -> T:
        """`operation(session)` in a read-only transaction on the chosen database; on the primary again when
        it fails on the replica."""
        router = self.router
        if router.replica is None:
            _count("primary", "not_configured")
            async with router.database.read_transaction() as session:
                return await operation(session)
        return await self._run(await router.choose(self.user_id), operation)

    async def _run(self, reason: str, operation: Operation[T]) -> T:
        router = self.router
        if reason == "replica" and router.replica is not None:
            try:
                async with router.replica.read_transaction() as session:
                    result = await operation(session)
            except REPLICA_ERRORS as exc:
                router.replica_failed(exc)
                reason = "replica_error"
            else:
                _count("replica", "replica")
                return result
        _count("primary", reason)
        async with router.database.read_transaction() as session:
            return await operation(session)

    async def cached(self, cache: ReadCache, key: CacheKey, operation: Operation[Any]) -> Any:
        """The cached value of `key`, or `operation`'s answer (stored only when the primary gave it)."""
        router = self.router
        if router.replica is None:
            return await cache.get_or_load(key, lambda: self.run(operation))
        reason = await router.choose(self.user_id)
        return await cache.get_or_load(key, lambda: self._run(reason, operation), store=reason != "replica")

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction on the chosen database, for a route's `Depends` (see the contract)."""
        router = self.router
        if router.replica is None:
            _count("primary", "not_configured")
            async with router.database.read_transaction() as session:
                yield session
            return
        reason = await router.choose(self.user_id)
        if reason == "replica":
            session = router.replica.sessionmaker()
            try:
                transaction = await session.begin()
                await session.connection()  # the checkout (tested by a round trip) and BEGIN: may fall back
            except REPLICA_ERRORS as exc:
                await session.close()
                router.replica_failed(exc)
                reason = "replica_error"
            else:
                _count("replica", "replica")
                try:
                    yield session
                    await transaction.commit()
                except REPLICA_ERRORS as exc:  # the route's statement failed there: too late to run it again
                    router.replica_failed(exc)
                    raise ServiceUnavailableError("the read replica failed during this read and is no longer "
                                                  "used until it passes a check; retry") from exc
                finally:
                    await session.close()
                return
        _count("primary", reason)
        async with router.database.read_transaction() as session:
            yield session
