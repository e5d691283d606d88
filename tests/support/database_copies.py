"""Fresh copies of a migrated PostgreSQL template, made ahead and dropped behind the tests.

`CREATE DATABASE ... TEMPLATE` costs 0.15 s on an idle machine and 0.3-0.5 s on a busy one (the server
writes and flushes the whole copy to its WAL, and a streaming replica replays it), and `DROP DATABASE`
another 0.05-0.1 s: paid in line by each of the ~1,000 PostgreSQL tests, that was minutes of a run.
`TemplateCopies` does that work on one background thread with one admin connection, `AHEAD` copies
ahead of the tests, so a test takes a copy that already exists and hands it back to be dropped while the
next test runs. Every test still gets a database nobody used before, a copy of the template as it was
migrated; only the waiting goes.

Contract: `take()` returns the SQLAlchemy async URL of an unused copy (waiting if none is ready yet) and
raises the background thread's error if making copies failed; `give_back(url)` queues its drop
(`WITH (FORCE)`: a process the test left connected is cut off); `close()` drops the copies nobody took,
waits until every drop is done, so a run leaves no database behind, and raises if a drop failed.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque

import asyncpg

from tests.support.databases import postgres_url

AHEAD = 2  # copies kept ready per test process: a test takes one while the next is being made


class TemplateCopies:
    def __init__(self, template: str, *, admin_dsn: str, ahead: int = AHEAD) -> None:
        self.template = template
        self.admin_dsn = admin_dsn
        self.ahead = ahead
        self._ready: deque[str] = deque()
        self._drops: deque[str] = deque()
        self._error: BaseException | None = None
        self._drop_errors: list[str] = []
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name=f"copies-of-{template}", daemon=True)
        self._thread.start()

    def take(self) -> str:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self._error is not None)
            if self._error is not None:
                raise RuntimeError(f"making copies of {self.template} failed: {self._error!r}") from self._error
            name = self._ready.popleft()
            self._changed.notify_all()
        return postgres_url(name)

    def give_back(self, url: str) -> None:
        with self._changed:
            self._drops.append(url.rsplit("/", 1)[1])
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        if self._drop_errors:
            raise RuntimeError(f"dropping test databases failed: {self._drop_errors[:3]}")

    # -- the background thread ----------------------------------------------------------------------
    def _next_task(self) -> tuple[str, str] | None:
        """("drop", name) or ("create", ""); None once closed and nothing is left to drop."""
        with self._changed:
            while True:
                if self._drops:
                    return "drop", self._drops.popleft()
                if self._closing:
                    if self._ready:
                        return "drop", self._ready.popleft()
                    return None
                if len(self._ready) < self.ahead and self._error is None:
                    return "create", ""
                self._changed.wait()

    def _work(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        connection: asyncpg.Connection | None = None
        try:
            while (task := self._next_task()) is not None:
                kind, name = task
                if connection is None or connection.is_closed():
                    connection = await asyncpg.connect(self.admin_dsn)
                try:
                    if kind == "drop":
                        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        continue
                    name = f"seawall_test_{uuid.uuid4().hex[:16]}"
                    await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                except Exception as exc:  # a create's error goes to the next take(), a drop's to close()
                    with self._changed:
                        if kind == "create":
                            self._error = exc
                        else:
                            self._drop_errors.append(f"{name}: {exc!r}")
                        self._changed.notify_all()
                    continue
                with self._changed:
                    self._ready.append(name)
                    self._changed.notify_all()
        finally:
            if connection is not None:
                await connection.close()
