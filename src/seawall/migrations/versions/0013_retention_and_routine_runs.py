"""retention and routine checks: the routine_runs table, and the indexes the retention purge walks

Revision ID: 0013
Revises: 0012

The purge (`seawall.maintenance.retention`) selects each batch oldest first along one of these
indexes, so a run costs the rows it deletes, not a scan of the table. On PostgreSQL each CREATE INDEX
blocks writes to its table while it builds (seconds per million rows): on a large installation, run
this migration at a quiet moment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = "a new table and indexes only"


def upgrade() -> None:
    op.create_table(
        "routine_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("routine", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routine_runs")),
    )
    op.create_index("ix_routine_runs_routine_id", "routine_runs", ["routine", "id"], unique=False)
    op.create_index("ix_routine_runs_started_at", "routine_runs", ["started_at"], unique=False)
    op.create_index("ix_jobs_finished", "jobs", ["status", "finished_at"], unique=False,
                    postgresql_where=sa.text("finished_at IS NOT NULL"),
                    sqlite_where=sa.text("finished_at IS NOT NULL"))
    op.create_index(op.f("ix_auth_sessions_expires_at"), "auth_sessions", ["expires_at"], unique=False)
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], unique=False)
    op.create_index("ix_webhook_events_created_at", "webhook_events", ["created_at"], unique=False)
    op.create_index("ix_webhook_deliveries_created_at", "webhook_deliveries", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_created_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_events_created_at", table_name="webhook_events")
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_index(op.f("ix_auth_sessions_expires_at"), table_name="auth_sessions")
    op.drop_index("ix_jobs_finished", table_name="jobs")
    op.drop_index("ix_routine_runs_started_at", table_name="routine_runs")
    op.drop_index("ix_routine_runs_routine_id", table_name="routine_runs")
    op.drop_table("routine_runs")
