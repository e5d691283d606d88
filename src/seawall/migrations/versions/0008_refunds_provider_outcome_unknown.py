"""refunds.provider_outcome_unknown: a refund request may have reached the provider unrecorded

The refund job sets it before sending, as the charge job does on payments; an attempt that finds it
looks the refund up at the provider before sending again. Refunds still pending at upgrade were
sent (or not) by code that kept no such mark, so they get it: their next attempt looks first.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = ("the new NOT NULL column has a server default (false), so the previous release's INSERTs "
                        "still succeed")


def upgrade() -> None:
    # A constant default: ADD COLUMN stays instant on PostgreSQL (11+) and needs no rebuild on SQLite.
    op.add_column("refunds", sa.Column("provider_outcome_unknown", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.execute("UPDATE refunds SET provider_outcome_unknown = true WHERE status = 'pending'")


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch_op:
        batch_op.drop_column("provider_outcome_unknown")
