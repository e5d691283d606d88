"""Promises of the embedded (SQLite) database layer:

- the one-hop driver (`seawall.sqlite_driver`) answers everything SQLAlchemy asks of a cursor: rows,
  rowcount (also for executemany), lastrowid, and the DBAPI's exception types;
- the in-process write gate queues concurrent writers in the process rather than in SQLite's
  polling busy handler, and opens again after a commit, a rollback or an error inside the
  transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from seawall.config import Settings
from seawall.db import Database


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    db = Database(Settings(var_dir=tmp_path, sqlite_busy_timeout_ms=30_000))
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT UNIQUE)"))
    yield db  # type: ignore[misc]
    await db.dispose()


async def test_driver_returns_rows_rowcounts_and_lastrowid(database: Database) -> None:
    async with database.transaction() as session:
        inserted = await session.execute(text("INSERT INTO items (label) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await session.execute(text("INSERT INTO items (label) VALUES (:label)"),
                                     [{"label": "b"}, {"label": "c"}, {"label": "d"}])
        assert many.rowcount == 3
        updated = await session.execute(text("UPDATE items SET label = label || '!' WHERE id > 1"))
        assert updated.rowcount == 3
    async with database.read_transaction() as session:
        rows = (await session.execute(text("SELECT id, label FROM items ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b!"), (3, "c!"), (4, "d!")]
        assert (await session.execute(text("SELECT label FROM items WHERE id = 99"))).first() is None


async def test_driver_raises_the_dbapi_errors_sqlalchemy_expects(database: Database) -> None:
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO items (label) VALUES ('same')"))
            await session.execute(text("INSERT INTO items (label) VALUES ('same')"))
    async with database.read_transaction() as session:  # rolled back as a whole
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar_one() == 0


async def test_concurrent_writers_queue_at_the_gate_not_inside_sqlite(database: Database) -> None:
    """Without the gate every waiting writer sits in SQLite's busy handler (which polls with sleeps of
    up to 100 ms); with it, a writer starts `BEGIN IMMEDIATE` only once the previous one committed."""
    waiting_in_sqlite = 0
    most_waiting = 0

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _before(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        nonlocal waiting_in_sqlite, most_waiting
        if statement == "BEGIN IMMEDIATE":
            waiting_in_sqlite += 1
            most_waiting = max(most_waiting, waiting_in_sqlite)

    @event.listens_for(database.engine.sync_engine, "after_cursor_execute")
    def _after(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        nonlocal waiting_in_sqlite
        if statement == "BEGIN IMMEDIATE":
            waiting_in_sqlite -= 1

    async def writer(index: int) -> None:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO items (label) VALUES (:label)"), {"label": f"w{index:02d}"})
            await asyncio.sleep(0.01)  # hold the write lock across an await, as request handlers do

    await asyncio.gather(*(writer(index) for index in range(30)))
    async with database.read_transaction() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar_one() == 30
    assert most_waiting == 1


async def test_the_gate_opens_again_after_a_rollback_or_an_error(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO items (label) VALUES ('kept')"))
        await session.rollback()
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO items (label) VALUES ('lost')"))
            raise RuntimeError("the handler failed")
    async with asyncio.timeout(20):  # a gate left shut would hang here until the busy timeout
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO items (label) VALUES ('after')"))
    async with database.read_transaction() as session:
        labels = (await session.execute(text("SELECT label FROM items"))).scalars().all()
    assert labels == ["after"]


async def test_a_writer_waits_for_another_process_lock_without_blocking_the_event_loop(
    database: Database, tmp_path: Path
) -> None:
    """Writing transactions run on the event loop's thread, but a BEGIN that finds SQLite's lock held
    elsewhere (another process; here a plain sqlite3 connection) waits on the connection's thread."""
    other = sqlite3.connect(tmp_path / "seawall.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO items (label) VALUES ('waited')"))

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    try:
        await asyncio.sleep(0.5)
        assert not writing.done()  # still waiting for the other connection's lock
        ticks_while_waiting = ticks
        other.execute("COMMIT")
        async with asyncio.timeout(20):
            await writing
    finally:
        ticking.cancel()
        other.close()
    assert ticks_while_waiting >= 10  # the loop kept running (a blocked loop would show 1 or 2)
    async with database.read_transaction() as session:
        assert (await session.execute(text("SELECT label FROM items"))).scalars().all() == ["waited"]
