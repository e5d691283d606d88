"""schema_revisions: each applied revision with its parent and compatibility (rolling deploys)

A release cannot read the scripts of a later one, so the database records what a process needs to
decide whether it may start against a schema newer than its own head (`seawall.schema.window`):
`env.py` writes a row as each revision is applied and deletes it when the revision is downgraded
(`seawall.schema.history`), from this revision on. Releases before this one start against their own
head only, so the first rolling deploy that may leave old processes running is the one after it.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = "a new table only, which the previous release never reads"


def upgrade() -> None:
    op.create_table(
        "schema_revisions",
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("down_revision", sa.String(length=64), nullable=True),
        sa.Column("compatibility", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_schema_revisions")),
    )


def downgrade() -> None:
    op.drop_table("schema_revisions")
