"""The read replica's engine: a pool of read-only, one-snapshot transactions on the streaming replica.

Contract:
- `ReplicaEngine.build(settings)` returns None without `SEAWALL_DATABASE_REPLICA_URL`; else an engine made
  by the primary's own factory (`db.create_engine`: the same pool size and timeout, JSON codecs, hidden
  parameters, broken-connection handling and tracing) on the replica's URL, with three differences:
  every checkout is tested with a round trip first (`pool_pre_ping`: a pooled connection broken by a
  replica restart is replaced at checkout, where a failure can still fall back to the primary, instead of
  failing the route's first statement); connecting gives up after `CONNECT_TIMEOUT_SECONDS`, and a
  statement after `STATEMENT_TIMEOUT_SECONDS` (asyncpg's `timeout` and `command_timeout`), so a replica
  that hangs costs a request that much at most, once, before it counts as down; and its pool is not
  metered (`seawall_db_pool_*` stay the primary's).
- `ReplicaEngine.read_transaction()` is `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` on the replica,
  like `Database.read_transaction()` on the primary (a hot standby allows both; it refuses SERIALIZABLE).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from seawall.config import Settings, reveal
from seawall.db import allow_commits_in_dry_run, create_engine

CONNECT_TIMEOUT_SECONDS = 2.0
STATEMENT_TIMEOUT_SECONDS = 10.0


class ReplicaEngine:
    """The replica's engine and its read-only session factory; one per process role that routes reads."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        reader = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self.sessionmaker = async_sessionmaker(reader, expire_on_commit=False)

    @classmethod
    def build(cls, settings: Settings) -> ReplicaEngine | None:
        url = reveal(settings.database_replica_url)
        if not url:
            return None
        engine = create_engine(settings.model_copy(update={
            "database_url": SecretStr(url), "database_pool_pre_ping": True, "metrics_enabled": False}))
        allow_commits_in_dry_run(engine)  # read-only: a shadow call's (dry run's) replica reads end in COMMIT

        @event.listens_for(engine.sync_engine, "do_connect")
        def _short_timeouts(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            cparams.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
            cparams.setdefault("command_timeout", STATEMENT_TIMEOUT_SECONDS)

        return cls(engine)

    @property
    def url_text(self) -> str:
        """The replica's URL with its password hidden (for logs and `seawall doctor`)."""
        return self.engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
