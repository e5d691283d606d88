"""A script directory one or more releases ahead of this one: the package's migrations (its
`env.py`, so `schema_revisions` is kept as in production) plus fake later revisions, for tests of
what this release does against a newer schema (`seawall.schema.window`, `migrate --check`).

Each fake revision is real DDL: an expand one creates a table of its own (no release reads it); a
contract one drops `users.plan`, which this release reads and writes; a broken one (declared expand)
fails, updating a table that does not exist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from seawall.db import MIGRATIONS_DIR
from seawall.schema.declarations import ScriptHistory

SCRIPT = '''"""a later release's {kind} revision {revision}

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
compatibility = "{compatibility}"
compatibility_reason = "{reason}"
{body}'''

BODIES = {
    "expand": ("a new table only ({table})", '''

def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
'''),
    "contract": ("drops users.plan, which the previous release reads and writes", '''

def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("plan")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("plan", sa.String(length=32), nullable=True))
'''),
    "broken": ("updates a table that does not exist", '''

def upgrade() -> None:
    op.execute("UPDATE no_such_table SET id = 1")


def downgrade() -> None:
    pass
'''),
}


def scripts_ahead(directory: Path, kinds: list[str]) -> tuple[Path, list[str]]:
    """`directory` made a script directory: this release's scripts, then one fake revision per item of
    `kinds` ("expand", "contract" or "broken"), in that order. Returns it and the fake revisions' ids."""
    shutil.copytree(MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    down = ScriptHistory().head
    revisions = []
    for number, kind in enumerate(kinds, start=1):
        revision = f"f{number:03d}"
        table = f"later_feature_{revision}"
        reason, body = BODIES[kind]
        text = SCRIPT.format(kind=kind, compatibility="expand" if kind == "broken" else kind, revision=revision,
                             down=down, reason=reason.format(table=table), body=body.format(table=table))
        (directory / "versions" / f"{revision}_later_{kind}.py").write_text(text)
        revisions.append(revision)
        down = revision
    return directory, revisions
