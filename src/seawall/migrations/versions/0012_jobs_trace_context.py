"""jobs: the trace context and request id of the work that enqueued each job (tracing, issue 13)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = "nullable columns only; the previous release's jobs simply carry no trace context"


def upgrade() -> None:
    # Nullable, no default: ADD COLUMN is instant on PostgreSQL and needs no table rebuild on SQLite.
    op.add_column("jobs", sa.Column("traceparent", sa.String(length=55), nullable=True))
    op.add_column("jobs", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("jobs", sa.Column("last_attempt_traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("last_attempt_traceparent")
        batch_op.drop_column("request_id")
        batch_op.drop_column("traceparent")
