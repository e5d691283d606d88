"""SQLAlchemy's aiosqlite adapter, with one thread hop per statement instead of four.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy's adapter makes four such
calls per statement (open a cursor, execute, fetch, close), each a round trip through the event
loop. In embedded mode those round trips dominated both the event loop's CPU and the time a
transaction holds SQLite's single write lock. Here one function does all four on the connection's
thread and hands back the rows with the cursor's description, rowcount and lastrowid.

It uses aiosqlite's `_execute` (queue a function for the connection's thread) and `_conn`, as
SQLAlchemy's own adapter does for `isolation_level`; `tests/unit/test_sqlite_driver.py` pins the
behaviour SQLAlchemy relies on.
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
        async with self._adapt_connection._execute_mutex:
            self._cursor, rows = await connection._execute(_run, connection._conn, operation, parameters, many)
            self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as `create_async_engine(..., module=OneHopDbapi.build())` for a `sqlite+aiosqlite` URL."""

    @classmethod
    def build(cls) -> OneHopDbapi:
        return cls(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)
