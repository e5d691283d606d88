"""SQLAlchemy's aiosqlite adapter, with one thread hop per statement instead of four.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy's adapter makes four such
calls per statement (open a cursor, execute, fetch, close), each a round trip through the event
loop. In embedded mode those round trips dominated both the event loop's CPU and the time a
transaction holds SQLite's single write lock. Here one function does all four on the connection's
thread and hands back the rows with the cursor's description, rowcount and lastrowid; a COMMIT or
ROLLBACK with no transaction open (the pool's reset of every returned connection) costs no hop; and
on the writing engine a transaction runs on the event loop's thread (`OneHopDbapi`).

It uses aiosqlite's `_execute` (queue a function for the connection's thread) and `_conn`, as
SQLAlchemy's own adapter does for `isolation_level`, and SQLAlchemy's adapter internals
(`_adapt_connection._execute_mutex`, `_connection`, the cursor's `_rows`); `tests/integration/
test_embedded_database.py` pins the behaviour SQLAlchemy relies on. Those private parts may move in any
release, so `pyproject.toml` pins both libraries exactly at `CHECKED_AGAINST`, and
`tests/unit/test_locked_dependencies.py` fails loudly when the installed versions differ: re-read this
module against the new versions, run the embedded tests, then update both.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

# The versions whose private parts this module was read against (see above).
CHECKED_AGAINST = {"aiosqlite": "0.22.1", "SQLAlchemy": "2.1.9"}


class _Ran:
    """What the adapted cursor reads once its statement has run (it stands in for the cursor)."""

    __slots__ = ("description", "rowcount", "lastrowid", "arraysize")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: int | None = None) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        pass


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> tuple[_Ran, list[Any]]:
    """On the connection's thread: execute, fetch every row, close."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Ran(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Ran()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        dbapi: OneHopDbapi = self._adapt_connection.dbapi  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            raw = connection._conn
            result = None
            if dbapi.inline_busy_timeout_ms is not None:
                if raw.in_transaction:
                    result = _run(raw, operation, parameters, many)
                elif operation.startswith("BEGIN"):
                    result = _begin_unless_busy(raw, operation, dbapi.inline_busy_timeout_ms)
            if result is None:
                result = await connection._execute(_run, raw, operation, parameters, many)
            self._cursor, rows = result  # type: ignore[assignment]  # _Ran answers what SQLAlchemy reads
            self._rows = collections.deque(rows)


def _begin_unless_busy(connection: sqlite3.Connection, operation: str, busy_timeout_ms: int
                       ) -> tuple[_Ran, list[Any]] | None:
    """BEGIN on the event loop's thread if the lock is free right now; None if another process holds
    it (then the caller waits for it on the connection's thread, up to the usual busy timeout)."""
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        return _run(connection, operation, None, False)
    except sqlite3.OperationalError as exc:
        if connection.in_transaction or "locked" not in str(exc):
            raise
        return None
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Also skips the thread hop for a COMMIT or ROLLBACK with no transaction open: the pool's
    rollback whenever a connection is returned, and the driver's commit after our own `COMMIT`."""

    __slots__ = ()
    _cursor_cls = OneHopCursor

    def _in_transaction(self) -> bool:
        # sqlite3 reads this flag (sqlite3_get_autocommit) without touching the connection's thread,
        # and nothing else runs on this connection while SQLAlchemy commits or rolls it back.
        raw: sqlite3.Connection | None = self._connection._connection  # type: ignore[attr-defined]
        return raw is not None and raw.in_transaction

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as `create_async_engine(..., module=OneHopDbapi.build())` for a `sqlite+aiosqlite` URL.

    `inline_busy_timeout_ms` (the writing engine, whose connections then need `check_same_thread`
    off, and whose writers queue on `db.WriteGate` first): a writing transaction runs on the event
    loop's thread, with no hop at all. Its `BEGIN IMMEDIATE` runs there when SQLite's write lock is
    free (another process holding it sends the BEGIN to the connection's thread, to wait there up to
    the busy timeout); the statements inside then never wait for a lock and touch a few rows by
    index; `COMMIT` includes the WAL fsync (well under a millisecond on a local disk). Without this
    a writing transaction waited behind every other task on the event loop once per statement while
    it held the database's only write lock, and that lock was the embedded mode's bottleneck.
    """

    def __init__(self, aiosqlite: Any, sqlite: Any, *, inline_busy_timeout_ms: int | None = None) -> None:
        super().__init__(aiosqlite, sqlite)
        self.inline_busy_timeout_ms = inline_busy_timeout_ms

    @classmethod
    def build(cls, *, inline_busy_timeout_ms: int | None = None) -> OneHopDbapi:
        return cls(aiosqlite, sqlite3, inline_busy_timeout_ms=inline_busy_timeout_ms)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)
