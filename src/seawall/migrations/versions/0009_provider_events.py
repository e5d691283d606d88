"""provider_events, payment disputes, one refund row per provider refund

- `provider_events`: events pushed by a payment provider (Stripe webhooks), unique per
  (provider, event id), so a redelivered event is recognized and applied once;
- `payments.dispute_id`, `payments.dispute_status`: a chargeback opened on the payment;
- `uq_refunds_provider_refund_id`: a refund made in the provider's dashboard is recorded once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = ("a new table, nullable columns and a unique index on provider refund ids, which the "
                        "previous release never repeats")


def upgrade() -> None:
    op.create_table(
        "provider_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
    )
    with op.batch_alter_table("provider_events") as batch_op:
        batch_op.create_index("uq_provider_events_provider_event", ["provider", "event_id"], unique=True)
    # Nullable, no default: ADD COLUMN is instant on PostgreSQL and needs no table rebuild on SQLite.
    op.add_column("payments", sa.Column("dispute_id", sa.String(length=255), nullable=True))
    op.add_column("payments", sa.Column("dispute_status", sa.String(length=32), nullable=True))
    op.create_index("uq_refunds_provider_refund_id", "refunds", ["provider_refund_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_refunds_provider_refund_id", table_name="refunds")
    with op.batch_alter_table("payments") as batch_op:
        batch_op.drop_column("dispute_status")
        batch_op.drop_column("dispute_id")
    op.drop_table("provider_events")
