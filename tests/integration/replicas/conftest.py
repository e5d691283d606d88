"""The read-replica tests' fixtures: the CI streaming replica (`.ci/replica`), serialised across workers.

The replica is a real PostgreSQL streaming replica of the test server, at `SEAWALL_TEST_REPLICA_ADDRESS`
(default 127.0.0.1:5433). With `CI=true` it is required (a missing one fails); elsewhere the tests skip
with the reason. Each test's database is created on the primary (the usual `database_url` fixture) and
reaches the replica by replication; `replica_url` waits for it there.

Pausing replay (`replica.paused()`) holds back every database of the replica, so every test of this
package holds one file lock (`fcntl`) from before its database must appear on the replica until its end,
across pytest-xdist workers; and replay is always resumed.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.databases import PG_ADMIN_DSN, _run_in_thread

REPLICA_ADDRESS = os.environ.get("SEAWALL_TEST_REPLICA_ADDRESS", "127.0.0.1:5433")
LOCK_PATH = Path(tempfile.gettempdir()) / "seawall-test-replica.lock"
APPEAR_TIMEOUT_SECONDS = 30.0


def _replica_dsn(database: str = "postgres") -> str:
    return f"postgresql://postgres@{REPLICA_ADDRESS}/{database}"


async def _replica_in_recovery() -> str | None:
    """None when a server in recovery answers at REPLICA_ADDRESS; else why not."""
    try:
        connection = await asyncpg.connect(_replica_dsn(), timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"no PostgreSQL at {REPLICA_ADDRESS} ({type(exc).__name__})"
    try:
        if not await connection.fetchval("SELECT pg_is_in_recovery()"):
            return f"the server at {REPLICA_ADDRESS} is not in recovery (not a replica)"
    finally:
        await connection.close()
    return None


class Replica:
    """The streaming replica as its superuser sees it (`on_replica`), and the test's database on the primary
    (`primary`)."""

    def __init__(self, *, database: str) -> None:
        self.database = database

    async def on_replica(self, sql: str) -> Any:
        connection = await asyncpg.connect(_replica_dsn(), timeout=5)
        try:
            return await connection.fetchval(sql)
        finally:
            await connection.close()

    async def primary(self, sql: str, *args: Any) -> Any:
        """Run `sql` on the test's database on the primary (committed at once)."""
        connection = await asyncpg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{self.database}", timeout=5)
        try:
            return await connection.fetchval(sql, *args)
        finally:
            await connection.close()

    async def caught_up(self, timeout: float = APPEAR_TIMEOUT_SECONDS) -> None:
        """Until the replica has replayed everything the primary had written when this was called."""
        await self._reached("pg_last_wal_replay_lsn()", "replay", timeout)

    async def received(self, timeout: float = APPEAR_TIMEOUT_SECONDS) -> None:
        """Until the replica has received (not necessarily replayed) everything the primary had written."""
        await self._reached("pg_last_wal_receive_lsn()", "receive", timeout)

    async def _reached(self, position: str, what: str, timeout: float) -> None:
        target = await self.primary("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while not await self.on_replica(f"SELECT {position} >= '{target}'::pg_lsn"):
            assert time.monotonic() < deadline, f"the replica did not {what} up to {target} in {timeout} s"
            await asyncio.sleep(0.01)

    async def fresh(self) -> None:
        """A commit on the primary, replayed: the replica has everything the primary had written by now."""
        await self.primary("SELECT txid_current()")
        await self.caught_up()

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Replay paused (the replica stands still while the primary writes: real lag); always resumed."""
        await self.fresh()
        await self.on_replica("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            await self.on_replica("SELECT pg_wal_replay_resume()")


@pytest.fixture
def replica_lock() -> Iterator[None]:
    """This test alone uses the replica (across xdist workers); skipped or failed first if there is none."""
    reason = _check_replica()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the read replica is required when CI=true: {reason} (.ci/replica builds it)")
        pytest.skip(f"{reason}: run .ci/replica as root, or set SEAWALL_TEST_REPLICA_ADDRESS")
    with LOCK_PATH.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_replica() -> str | None:
    return _run_in_thread(_replica_in_recovery)


@pytest.fixture
async def replica(replica_lock: None, database_url: str | None) -> Replica:
    """The replica, once the test's database (created on the primary) has reached it."""
    assert database_url is not None, "the replica tests run on PostgreSQL backends only"
    found = Replica(database=database_url.rsplit("/", 1)[1])
    await found.on_replica("SELECT pg_wal_replay_resume()")  # left paused by a test run that was killed
    deadline = time.monotonic() + APPEAR_TIMEOUT_SECONDS
    while not await found.on_replica(f"SELECT count(*) FROM pg_database WHERE datname = '{found.database}'"):
        assert time.monotonic() < deadline, f"{found.database} did not reach the replica in {APPEAR_TIMEOUT_SECONDS} s"
        await asyncio.sleep(0.02)
    return found


def replica_url_of(database_url: str) -> str:
    """The same database on the replica."""
    return f"postgresql+asyncpg://postgres@{REPLICA_ADDRESS}/{database_url.rsplit('/', 1)[1]}"
