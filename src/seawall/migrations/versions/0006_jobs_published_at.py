"""jobs: published_at (the broker relay's mark) and a partial index on unpublished due jobs

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = ("a nullable column (rows the previous release inserts read as not yet published, which they"
                        " are) and an index")

UNPUBLISHED = "status = 'queued' AND published_at IS NULL"


def upgrade() -> None:
    # Nullable, no default: ADD COLUMN is instant on PostgreSQL and needs no table rebuild on SQLite.
    op.add_column("jobs", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_jobs_unpublished", "jobs", ["queue", "next_run_at"], unique=False,
                    postgresql_where=sa.text(UNPUBLISHED), sqlite_where=sa.text(UNPUBLISHED))


def downgrade() -> None:
    op.drop_index("ix_jobs_unpublished", table_name="jobs")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("published_at")
