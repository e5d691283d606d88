"""Runs of the migrations: upgrade or downgrade the database to one revision (`seawall migrate`).

`migrate_to(database, target)` moves the schema along its line of revisions to `target` (`head`,
`base`, or a revision id Alembic resolves), upward or downward as needed, in one transaction (on
PostgreSQL all of it commits or none does), and returns the steps in the order applied.
A database at a revision the scripts do not know (written by a later release) is refused with
`SchemaNotCurrentError`: only the release that wrote it has the scripts to move it back. A script
that fails is `MigrationFailedError` naming the revision and the first line of the cause (the
transaction rolls back); a connection lost meanwhile stays the driver's error (`db.first_contact`).

On PostgreSQL, concurrent runs (two migration Jobs, or a Job and a server starting in embedded mode)
are serialised: the transaction first takes the transaction-scoped advisory lock `MIGRATION_LOCK_KEY`,
before Alembic reads the current revision, so a second run waits for the first to commit (or roll
back) and then finds the schema where the first left it. The lock has no timeout of its own.

On SQLite, foreign keys are off while migrations run, and checked before the commit: Alembic's batch
mode rebuilds a table to change it (copy into a new table, DROP the old, rename), and with foreign
keys on, that DROP first deletes every row, cascading into the tables that reference it (a
downgrade of `users` would delete every session) or failing on a RESTRICT. The pragma is a no-op
inside a transaction, so it is set on the driver connection before the transaction begins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from alembic import command
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from seawall.db import MIGRATIONS_DIR, Database, alembic_config, first_line
from seawall.errors import MigrationFailedError, SchemaNotCurrentError
from seawall.schema.declarations import Compatibility, ScriptHistory, declaration_of

# PostgreSQL advisory lock key (bigint) held by every migration run for its transaction: the ASCII bytes
# of "SeawallM". Another tool sharing the database must not use this key.
MIGRATION_LOCK_KEY = 0x5365_6177_616C_6C4D


@dataclass(frozen=True)
class AppliedStep:
    """One revision applied (`upgrade`: `parent` → `revision`) or undone (`downgrade`: `revision` →
    `parent`), with the revision's declaration and the first line of its docstring."""

    direction: str  # "upgrade" | "downgrade"
    revision: str
    parent: str | None
    compatibility: Compatibility
    title: str

    def describe(self) -> str:
        before, after = (self.parent, self.revision) if self.direction == "upgrade" else (self.revision, self.parent)
        return f"{self.direction} {before or 'base'} -> {after or 'base'}  {self.compatibility}  {self.title}"


async def migrate_to(database: Database, target: str = "head", *,
                     location: Path = MIGRATIONS_DIR) -> list[AppliedStep]:
    """Upgrade or downgrade to `target`; `ValueError` for a revision the scripts do not know."""
    history = ScriptHistory(location)
    resolved = history.head if target == "head" else history.resolve(target)
    async with database.engine.connect() as connection:
        return await connection.run_sync(_migrate, history, resolved)


def _migrate(connection: Connection, history: ScriptHistory, target: str | None) -> list[AppliedStep]:
    applied: list[MigrationInfo] = []
    config = alembic_config(history.location)
    config.attributes.update(connection=connection, applied_steps=applied)
    with _sqlite_foreign_keys_off(connection), connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and not history.knows(current):
            raise SchemaNotCurrentError(
                f"database schema is at revision {current}, which this Seawall (head {history.head}) does not "
                "know: only the release that migrated it can move it (`seawall migrate --to REV` there)")
        upward = history.position(target) > history.position(current)
        try:
            if upward:
                command.upgrade(config, target or "base")
            elif history.position(target) < history.position(current):
                command.downgrade(config, target or "base")
        except Exception as exc:
            if isinstance(exc, OSError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
                raise  # the database went away: not the script's fault
            failed = _step_running(history, current, done=len(applied), upward=upward)
            raise MigrationFailedError(
                f"migration {failed} failed: {first_line(getattr(exc, 'orig', None) or exc)}") from exc
        _check_foreign_keys(connection)
    return [_applied(step) for step in applied]


def _step_running(history: ScriptHistory, current: str | None, *, done: int, upward: bool) -> str:
    """The revision being applied (or undone) after `done` steps from `current`."""
    index = history.position(current) + done + 1 if upward else history.position(current) - done
    return history.revisions[index].revision


def _applied(step: MigrationInfo) -> AppliedStep:
    script = cast(Script, step.up_revision)  # a ScriptDirectory's map holds Scripts
    assert script is not None, step.up_revision_id
    declared = declaration_of(script)
    title = (script.doc or "").strip().splitlines()[0] if script.doc else ""
    return AppliedStep(direction="upgrade" if step.is_upgrade else "downgrade", revision=declared.revision,
                       parent=declared.down_revision, compatibility=declared.compatibility, title=title)


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.dbapi_connection
    assert driver is not None
    _pragma(driver, "PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        _pragma(driver, "PRAGMA foreign_keys = ON")


def _pragma(driver: object, statement: str) -> None:
    cursor = driver.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    """SQLite: the rows the migration left pointing at nothing (none, unless a script is wrong)."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows whose foreign keys point at nothing: {broken[:5]}")
