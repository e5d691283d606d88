"""Throwaway databases for tests: a SQLite file per test, or a fresh PostgreSQL database per test.
Each starts as a copy of a template migrated once per run (per xdist worker): `create_migrated_template`
(PostgreSQL, `CREATE DATABASE ... TEMPLATE`) and `create_migrated_sqlite_template` (a file copied).

PostgreSQL is at 127.0.0.1:5432 (trust auth, user `postgres`). With `CI=true` it is required and a
missing server fails the run; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get("SEAWALL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
T = TypeVar("T")
_available: bool | None = None


def _run_in_thread(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop, whatever loop the caller is inside."""
    result: dict[str, T] = {}
    error: list[BaseException] = []

    def target() -> None:
        try:
            result["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the caller below
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result["value"]


async def _probe() -> bool:
    try:
        connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


def require_postgres() -> None:
    global _available
    if _available is None:
        _available = _run_in_thread(_probe)
    if not _available:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required when CI=true and is not reachable at {PG_ADMIN_DSN}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN} (start it, or run with CI=true to require it)")


def create_postgres_database(*, template: str | None = None) -> str:
    """Create a database (empty, or a copy of `template`) and return its SQLAlchemy async URL."""
    name = f"seawall_test_{uuid.uuid4().hex[:16]}"
    clause = f' TEMPLATE "{template}"' if template else ""

    async def create() -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await connection.close()

    _run_in_thread(create)
    return postgres_url(name)


def postgres_url(name: str) -> str:
    """The SQLAlchemy async URL of the test database `name` on the test server."""
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def create_migrated_template() -> str:
    """A database at the newest schema revision, to copy per test (far faster than migrating each)."""
    from seawall.config import Settings
    from seawall.db import Database

    url = create_postgres_database()

    async def migrate() -> None:
        database = Database(Settings(database_url=url))
        try:
            await database.migrate()
        finally:
            await database.dispose()

    _run_in_thread(migrate)
    return url.rsplit("/", 1)[1]


def create_migrated_sqlite_template(directory: Path) -> Path:
    """`directory`/seawall.db at the newest schema revision, closed (no WAL left beside it), to copy per
    test: a copy costs a file copy, running the migrations ~0.1 s of CPU (and a dozen revisions more
    each issue)."""
    from seawall.config import Settings
    from seawall.db import Database

    database = Database(Settings(var_dir=directory))

    async def migrate() -> None:
        try:
            await database.migrate()
        finally:
            await database.dispose()

    _run_in_thread(migrate)
    path = directory / "seawall.db"
    assert path.is_file() and not (directory / "seawall.db-wal").exists(), sorted(directory.iterdir())
    return path


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    _run_in_thread(drop)
