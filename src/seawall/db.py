"""Database engine, sessions and schema migrations.

Contract:
- `Database.session()` yields an `AsyncSession` whose transaction the caller's boundary (request or
  job) commits; services only `flush()`.
- SQLite (embedded mode) runs in WAL with `synchronous=FULL`, so a commit that was answered 2xx
  survives a power cut, and every writing transaction starts with `BEGIN IMMEDIATE`: SQLite has a
  single writer, and taking the write lock up front turns would-be upgrade deadlocks into ordinary
  waits bounded by `busy_timeout`. Within one process, writers also queue first on a FIFO gate
  (`WriteGate`), taken at `BEGIN` and opened right after `COMMIT`: SQLite's busy handler polls with
  sleeps of up to 100 ms, which under many concurrent writers left the lock idle most of the time.
  The writing engine's transactions then run on the event loop's thread, and everything else makes
  one thread hop per statement (`seawall.sqlite_driver`).
- `Database.read_transaction()` is for work that only reads: on SQLite it runs on a separate
  `query_only` engine with a deferred BEGIN, so readers never wait for (or block) the writer; on
  PostgreSQL it is `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` (one statement, asyncpg's), so
  every statement of it reads the same snapshot and none can write. Both are one consistent snapshot
  (SQLite's WAL reader sees the database as of its first read): a scan over several tables (the
  ledger against the payments) never sees half of a concurrent commit.
- With metrics on, each pool reports connections in use and checkouts that had to wait
  (`observability/db_pool.py`).
- Dry run (`dry_run()`, the legacy bridge's shadow calls): while the context variable is set, every
  `transaction()` and `read_transaction()` rolls back instead of committing, and any other commit on
  this database's engines (a raw `session.commit()`, `engine.begin()`) raises `DryRunCommitRefused`,
  so nothing a dry run writes is ever kept; caches filled from a session check `in_dry_run()` first.
- The schema is owned by Alembic (`seawall/migrations`); `seawall.schema` runs the migrations and
  decides which schema revisions a process starts against.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Executable, MetaData, Result, event, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.util import await_only

from seawall.config import Settings, usable_var_dir
from seawall.errors import DatabaseUnreachableError
from seawall.observability.db_pool import meter_pool, pool_class
from seawall.observability.tracing import instrument_engine
from seawall.sqlite_driver import OneHopDbapi

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_DRY_RUN: ContextVar[bool] = ContextVar("seawall_dry_run", default=False)


class DryRunCommitRefused(RuntimeError):
    """A commit attempted during a dry run (`dry_run()`) other than through `Database.transaction()`."""


@contextmanager
def dry_run() -> Iterator[None]:
    """Within this block (and the tasks it starts: contextvars are copied), this context's transactions
    roll back instead of committing. For the legacy bridge's shadow calls (`legacy.shadow`)."""
    token = _DRY_RUN.set(True)
    try:
        yield
    finally:
        _DRY_RUN.reset(token)


def in_dry_run() -> bool:
    return _DRY_RUN.get()


def _refuse_commit_in_dry_run(connection: Connection) -> None:
    # SQLAlchemy runs its greenlets in the caller's context (greenlet_spawn copies gr_context).
    if _DRY_RUN.get():
        # Raising here leaves SQLAlchemy believing the transaction ended: end it on the driver ourselves.
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection is not None:
            dbapi_connection.rollback()
        raise DryRunCommitRefused("a commit during a dry run (shadow call): rolled back instead")


class WriteGate:
    """One process's queue for SQLite's single write lock: first come, first served, no polling.

    Only an optimization: SQLite's own lock still decides (other processes, and a gate that times
    out, fall back to `busy_timeout`). A connection holds the gate from its `BEGIN IMMEDIATE` until
    its `COMMIT` has run, or until it rolls back or goes back to the pool.
    """

    HELD = "seawall_write_gate"

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, connection_info: dict[str, Any]) -> None:
        """Wait for the gate (called in SQLAlchemy's greenlet, on the event loop)."""
        if connection_info.get(self.HELD):
            return
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # a new event loop (tests): a new gate
            self._lock, self._loop = asyncio.Lock(), loop
        lock = self._lock
        try:
            await_only(asyncio.wait_for(lock.acquire(), self.timeout_seconds))
        except TimeoutError:
            return  # let SQLite's busy timeout decide
        connection_info[self.HELD] = lock

    def leave(self, connection_info: dict[str, Any]) -> None:
        lock = connection_info.pop(self.HELD, None)
        if lock is not None and lock.locked():
            lock.release()


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int, read_only: bool = False) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    if read_only:
        @event.listens_for(engine.sync_engine, "begin")
        def _on_read_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")
        return

    gate = WriteGate(busy_timeout_ms / 1000)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        gate.enter(connection.info)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(connection.info)
            raise

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(connection: Connection) -> None:
        # COMMIT here, so the next writer is let in once it has run (the driver's own commit that
        # follows finds no open transaction and does nothing).
        connection.exec_driver_sql("COMMIT")
        gate.leave(connection.info)

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(connection: Connection) -> None:
        gate.leave(connection.info)  # the ROLLBACK that follows is brief; SQLite's lock covers it

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        gate.leave(record.info)


def _json_text(value: Any) -> str:
    """JSON columns (job payloads, stored responses) serialized with orjson: compact, and several
    times faster than the standard library's encoder."""
    return orjson.dumps(value).decode()


@asynccontextmanager
async def first_contact(settings: Settings) -> AsyncIterator[None]:
    """Around a process's first use of the database (the schema check, `migrate`): a failure to reach it
    becomes `DatabaseUnreachableError`, naming SEAWALL_DATABASE_URL and the URL without its password."""
    try:
        yield
    except (OSError, DBAPIError) as exc:
        url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        reason = first_line(getattr(exc, "orig", None) or exc)
        raise DatabaseUnreachableError(
            f"cannot use the database at {url} (SEAWALL_DATABASE_URL): {reason}") from exc


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, or its class name when it has none (`TimeoutError()`)."""
    return next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__


def create_engine(settings: Settings, *, read_only: bool = False) -> AsyncEngine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        usable_var_dir(settings)
        connect_args: dict[str, Any] = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
        module = None
        if url.startswith("sqlite+aiosqlite"):
            module = OneHopDbapi.build(inline_busy_timeout_ms=None if read_only else settings.sqlite_busy_timeout_ms)
            if not read_only:
                connect_args["check_same_thread"] = False  # see OneHopDbapi: its transactions run inline
        engine = create_async_engine(
            url,
            module=module,
            poolclass=pool_class(url) if settings.metrics_enabled else None,
            pool_size=settings.database_pool_size,
            pool_timeout=settings.database_pool_timeout_seconds,
            connect_args=connect_args,
            json_serializer=_json_text,
            json_deserializer=orjson.loads,
            hide_parameters=True,  # no bound value (a signing secret, a digest) in SQL logs or error messages
        )
        _guard_commits(engine)  # first: before the COMMIT `_configure_sqlite` issues itself
        _configure_sqlite(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms, read_only=read_only)
        if settings.metrics_enabled:
            meter_pool(engine.sync_engine)
        instrument_engine(engine)  # a span per statement, while tracing is on
        return engine
    engine = create_async_engine(
        url,
        poolclass=pool_class(url) if settings.metrics_enabled else None,
        pool_size=settings.database_pool_size,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_pre_ping=settings.database_pool_pre_ping,
        connect_args={"timeout": settings.database_connect_timeout_seconds},  # asyncpg's connect timeout
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
        hide_parameters=True,  # no bound value (a signing secret, a digest) in SQL logs or error messages
    )
    event.listen(engine.sync_engine, "handle_error", _broken_connection)
    _guard_commits(engine)
    if settings.metrics_enabled:
        meter_pool(engine.sync_engine)  # and the pool class above: see observability/db_pool.py
    instrument_engine(engine)  # a span per statement, while tracing is on
    return engine


def _broken_connection(context: ExceptionContext) -> None:
    """asyncpg reports a pooled connection whose server session ended (a restart, an operator's
    `pg_terminate_backend`) as an internal client error ("cannot switch to state …") rather than a
    lost connection. Count it as a disconnect, so SQLAlchemy drops it and every older pooled
    connection (the request answers 503) instead of handing the broken one out again."""
    cause = getattr(context.original_exception, "__cause__", None)
    if isinstance(cause, asyncpg.exceptions.InternalClientError):
        context.is_disconnect = True


class Database:
    """The engine and its session factory; one per process role."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        _guard_commits(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        separate_reader = engine is None and settings.is_embedded_database
        self.read_engine = create_engine(settings, read_only=True) if separate_reader else self.engine
        if self.read_engine is not self.engine:
            _guard_commits(self.read_engine)
        reader = self.read_engine
        if reader.dialect.name == "postgresql":
            # Set on the connection object only (asyncpg sends them in its BEGIN); reset at check-in.
            reader = reader.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self.read_sessionmaker = async_sessionmaker(reader, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits when the block exits normally and rolls back otherwise (always
        rolls back during a dry run: `dry_run()`)."""
        async with self.sessionmaker() as session:
            if _DRY_RUN.get():
                async with _rolled_back(session):
                    yield session
                return
            async with session.begin():
                yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction for reads only, on one snapshot: it takes no write lock and cannot write
        (SQLite: `query_only`; PostgreSQL: REPEATABLE READ READ ONLY, a write raises
        `ReadOnlySqlTransaction`). For scans that only read a lot (the ledger check, `doctor`)."""
        async with self.read_sessionmaker() as session:
            if _DRY_RUN.get():
                async with _rolled_back(session):
                    yield session
                return
            async with session.begin():
                yield session

    async def ping(self) -> None:
        async with self.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def migrate(self) -> str | None:
        """Upgrade the schema to the head revision (`seawall.schema.runner`); the revision reached."""
        from seawall.schema.runner import migrate_to  # the runner builds on this module

        await migrate_to(self)
        return await self.current_revision()

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current_revision)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _guard_commits(engine: AsyncEngine) -> None:
    if not event.contains(engine.sync_engine, "commit", _refuse_commit_in_dry_run):
        event.listen(engine.sync_engine, "commit", _refuse_commit_in_dry_run)


def allow_commits_in_dry_run(engine: AsyncEngine) -> None:
    """For an engine nothing can be written through (a read replica): its read transactions may commit
    during a dry run (a commit there keeps nothing)."""
    if event.contains(engine.sync_engine, "commit", _refuse_commit_in_dry_run):
        event.remove(engine.sync_engine, "commit", _refuse_commit_in_dry_run)


@asynccontextmanager
async def _rolled_back(session: AsyncSession) -> AsyncIterator[None]:
    """A dry run's transaction: its work is visible inside the block, then rolled back whatever happens."""
    transaction = await session.begin()
    try:
        yield
    finally:
        await transaction.rollback()


class CommitHook:
    """What a transaction gathers on its session (`add`), handed to `run` in the committing greenlet
    once the outermost transaction has committed; dropped when it rolls back instead."""

    def __init__(self, key: str, run: Callable[[Session, set[Any]], None]) -> None:
        self.key = key
        self.run = run
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(Session, "after_transaction_end", self._after_transaction_end)

    def add(self, session: AsyncSession | Session, items: Iterable[Any]) -> None:
        session.info.setdefault(self.key, set()).update(items)

    def _after_commit(self, session: Session) -> None:
        items = session.info.pop(self.key, None)
        if items:
            self.run(session, items)

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            session.info.pop(self.key, None)


async def execute(session: AsyncSession, statement: Executable, parameters: dict[str, Any]) -> Result[Any]:
    """Run a Core statement on the session's connection (its transaction), skipping the ORM's
    execution layer: for the hot paths' prebuilt statements, which touch no mapped objects."""
    connection = await session.connection()
    return await connection.execute(statement, parameters)


@asynccontextmanager
async def contested_insert(session: AsyncSession) -> AsyncIterator[None]:
    """Wrap the INSERT of a row whose unique key the caller has just looked up in this transaction,
    so that losing a race to a concurrent transaction raises `IntegrityError` and rolls back only
    that INSERT (a savepoint), leaving the caller's transaction usable.

    SQLite needs no savepoint: a writing transaction holds the database's only write lock from its
    first statement (`BEGIN IMMEDIATE`), so nothing can insert between the lookup and the INSERT.
    Skipping it saves two statements per insert on the embedded hot path.
    """
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        yield
        await session.flush()
        return
    async with session.begin_nested():
        yield


def alembic_config(location: Path = MIGRATIONS_DIR) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(location))
    return config


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
