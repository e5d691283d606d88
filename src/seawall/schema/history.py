"""The `schema_revisions` table: the database's own record of its revisions and their declarations.

A release cannot read the migration scripts of a later one, so the database carries what it needs
to know about them: one row per applied revision (from 0014, the migration that created the table,
on), with its parent revision and its declaration (`seawall.schema.declarations`). `env.py` keeps it
through Alembic's `on_version_apply` hook, in the migration's own transaction: a row is written when
a revision is upgraded to, and deleted when that revision is downgraded. Stamps are not recorded.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from datetime import UTC, datetime
from typing import Any, cast

from alembic.runtime.migration import MigrationInfo
from alembic.script import Script
from sqlalchemy import Column, Connection, DateTime, String, Table, Text, delete, insert, inspect, select

from seawall.db import Base
from seawall.schema.declarations import Compatibility, DeclaredRevision, declaration_of

schema_revisions = Table(
    "schema_revisions",
    Base.metadata,
    Column("revision", String(64), primary_key=True),
    Column("down_revision", String(64), nullable=True),
    Column("compatibility", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def record_step(connection: Connection, step: MigrationInfo) -> None:
    """Write (upgrade) or delete (downgrade) the row of the revision `step` moved over; nothing while
    the table does not exist (revisions before 0014, and the downgrade of 0014 itself)."""
    if step.is_stamp or step.up_revision_id is None or not inspect(connection).has_table(schema_revisions.name):
        return
    revision = step.up_revision_id
    connection.execute(delete(schema_revisions).where(schema_revisions.c.revision == revision))
    if step.is_upgrade:
        script = cast(Script, step.up_revision)  # a ScriptDirectory's map holds Scripts
        assert script is not None, revision
        declared = declaration_of(script)
        connection.execute(insert(schema_revisions).values(
            revision=revision, down_revision=declared.down_revision, compatibility=declared.compatibility.value,
            reason=declared.reason, applied_at=datetime.now(UTC)))


def version_hook(applied: MutableSequence[MigrationInfo] | None) -> Callable[..., None]:
    """The `on_version_apply` callable for `env.py`: records each step, and appends it to `applied`
    (when given) for the caller to report."""

    def on_version_apply(*, ctx: Any, step: MigrationInfo, heads: Any, run_args: Any) -> None:
        record_step(ctx.connection, step)
        if applied is not None:
            applied.append(step)

    return on_version_apply


def recorded_revisions(connection: Connection) -> dict[str, DeclaredRevision]:
    """Every recorded revision by id; empty when the table does not exist (a schema before 0014)."""
    if not inspect(connection).has_table(schema_revisions.name):
        return {}
    rows = connection.execute(select(schema_revisions.c.revision, schema_revisions.c.down_revision,
                                     schema_revisions.c.compatibility, schema_revisions.c.reason))
    recorded: dict[str, DeclaredRevision] = {}
    for revision, down_revision, compatibility, reason in rows:
        try:
            kind = Compatibility(compatibility)
        except ValueError:  # a later release's word this one does not know: treat it as the unsafe one
            kind = Compatibility.CONTRACT
        recorded[revision] = DeclaredRevision(revision=revision, down_revision=down_revision,
                                              compatibility=kind, reason=reason)
    return recorded
