"""Which schema a process starts against: its own head, or one expand revision ahead of it.

During a rolling deploy the new release's migration runs first, and processes of the previous
release keep running and restarting against the migrated schema until the rollout replaces them.
So a process compares the database's revision with its code's head (`assess`):

- at the head: it starts;
- **one revision ahead, recorded as expand** (`schema_revisions`, `seawall.schema.history`): it starts,
  and logs one warning line (`schema.ahead`) naming both revisions;
- behind the head, or no schema at all: it refuses ("run `seawall migrate` first"); the embedded
  SQLite mode migrates instead (`prepare_schema(migrate=True)`);
- further ahead, one contract ahead, or at a revision neither its scripts nor the table know: it
  refuses, naming the reason. It never downgrades a newer schema, not even the embedded file.

A refusal is `SchemaNotCurrentError`: one line on the command line, exit code 1. The window opened
with revision 0014 (`FIRST_WINDOWED_REVISION`): releases before it refuse any schema but their head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import structlog
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from seawall.db import Database
from seawall.errors import SchemaNotCurrentError
from seawall.schema.declarations import Compatibility, DeclaredRevision, ScriptHistory
from seawall.schema.history import recorded_revisions
from seawall.schema.runner import migrate_to

FIRST_WINDOWED_REVISION = "0014"

log = structlog.get_logger("seawall.schema")


class Position(StrEnum):
    CURRENT = "current"  # at the code's head
    AHEAD_COMPATIBLE = "ahead_compatible"  # one expand revision past the head: starts, with a warning
    BEHIND = "behind"  # before the head, or no schema yet: migrate first
    OUT_OF_WINDOW = "out_of_window"  # newer, but not one expand revision newer (or unknown)


@dataclass(frozen=True)
class SchemaState:
    database_revision: str | None
    code_head: str
    position: Position
    ahead: tuple[DeclaredRevision, ...] = ()  # the database's revisions past the head, oldest first
    problem: str = ""  # why an OUT_OF_WINDOW schema is out of the window

    @property
    def starts(self) -> bool:
        return self.position in (Position.CURRENT, Position.AHEAD_COMPATIBLE)


def assess(database_revision: str | None, *, code: ScriptHistory,
           recorded: Mapping[str, DeclaredRevision]) -> SchemaState:
    """Where the database's revision stands against `code`'s head; `recorded` is its `schema_revisions`."""
    head = code.head
    if database_revision == head:
        return SchemaState(database_revision, head, Position.CURRENT)
    if database_revision is None or code.knows(database_revision):
        return SchemaState(database_revision, head, Position.BEHIND)
    chain: list[DeclaredRevision] = []
    revision: str | None = database_revision
    while revision is not None and revision != head and revision in recorded and len(chain) <= len(recorded):
        chain.append(recorded[revision])
        revision = recorded[revision].down_revision
    chain.reverse()
    if revision != head:
        return SchemaState(database_revision, head, Position.OUT_OF_WINDOW, tuple(chain),
                           f"revision {database_revision} is not one this Seawall knows, and the database "
                           f"records no line of revisions from {head} to it")
    if len(chain) > 1:
        return SchemaState(database_revision, head, Position.OUT_OF_WINDOW, tuple(chain),
                           f"it is {len(chain)} revisions ahead ({', '.join(r.revision for r in chain)}); a "
                           "process starts at most one expand revision ahead of its own")
    if chain[0].compatibility is Compatibility.CONTRACT:
        return SchemaState(database_revision, head, Position.OUT_OF_WINDOW, tuple(chain),
                           f"{database_revision} is a contract migration ({chain[0].reason})")
    return SchemaState(database_revision, head, Position.AHEAD_COMPATIBLE, tuple(chain))


def read_state(connection: Connection, code: ScriptHistory) -> SchemaState:
    """The database's revision and `schema_revisions`, assessed (reads only)."""
    current = MigrationContext.configure(connection).get_current_revision()
    return assess(current, code=code, recorded=recorded_revisions(connection) if current else {})


async def database_state(database: Database, code: ScriptHistory | None = None) -> SchemaState:
    history = code or ScriptHistory()
    async with database.engine.connect() as connection:
        return await connection.run_sync(read_state, history)


def refusal(state: SchemaState) -> SchemaNotCurrentError:
    """The one-line error for a state a process does not start against."""
    current = state.database_revision or "none"
    if state.position is Position.BEHIND:
        return SchemaNotCurrentError(f"database schema is at revision {current}, this Seawall needs "
                                     f"{state.code_head}: run `seawall migrate` first")
    return SchemaNotCurrentError(
        f"database schema is at revision {current}, newer than this Seawall's {state.code_head}, and {state.problem}: "
        f"deploy the release that migrated it, or roll the schema back with that release's "
        f"`seawall migrate --to {state.code_head}`")


def accept(state: SchemaState, *, warn: bool = True) -> SchemaState:
    """Return `state` when a process starts against it, else raise. Ahead of the head, it logs one
    warning line (`schema.ahead`) unless `warn` is off (a check that another one follows in the same
    process: `seawall api` checks before uvicorn starts the app, whose start-up checks again)."""
    if not state.starts:
        raise refusal(state)
    if state.position is Position.AHEAD_COMPATIBLE and warn:
        log.warning("schema.ahead", database_revision=state.database_revision, code_revision=state.code_head,
                    message=f"database schema {state.database_revision} is one expand revision ahead of this "
                            f"Seawall's {state.code_head}: starting (a rolling deploy or a code rollback)")
    return state


async def prepare_schema(database: Database, *, migrate: bool, warn: bool = True) -> SchemaState:
    """The start-up check of every process role. With `migrate` (the embedded SQLite mode) a schema
    behind the head (or none) is upgraded to it first; a newer one is never downgraded."""
    code = ScriptHistory()
    state = await database_state(database, code)
    if migrate and state.position is Position.BEHIND:
        await migrate_to(database, "head")
        state = await database_state(database, code)
    return accept(state, warn=warn)
