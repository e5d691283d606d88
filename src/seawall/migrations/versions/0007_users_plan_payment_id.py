"""users.plan_payment_id: the payment that pays for the user's plan

Replaces the `payments.purpose LIKE 'signup:%'` convention: accounts records which payment settles
the plan, and reacts to that payment's `PaymentSucceeded`/`PaymentFailed` events. Existing users
get their latest sign-up payment.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "contract"
compatibility_reason = ("a sign-up made by the previous release leaves users.plan_payment_id NULL, and this "
                        "release's workers settle a plan by that column: such a user would never be activated")


def upgrade() -> None:
    # Nullable, no default: ADD COLUMN is instant on PostgreSQL and needs no table rebuild on SQLite.
    op.add_column("users", sa.Column("plan_payment_id", sa.String(length=40), nullable=True))
    op.execute(
        "UPDATE users SET plan_payment_id = ("
        " SELECT p.id FROM payments p WHERE p.user_id = users.id AND p.purpose LIKE 'signup:%'"
        " ORDER BY p.created_at DESC, p.id DESC LIMIT 1)"
        " WHERE plan IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("plan_payment_id")
