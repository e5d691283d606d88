"""legacy_shadow_comparisons: one row per shadow call of the legacy bridge and how the answers compared

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = "a new table only, which the previous release never reads"


def upgrade() -> None:
    op.create_table(
        "legacy_shadow_comparisons",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("route", sa.String(length=256), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("legacy_status", sa.Integer(), nullable=False),
        sa.Column("seawall_status", sa.Integer(), nullable=True),
        sa.Column("patch", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("legacy_seconds", sa.Float(), nullable=True),
        sa.Column("seawall_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_shadow_comparisons")),
    )
    op.create_index("ix_legacy_shadow_comparisons_route_created_at", "legacy_shadow_comparisons",
                    ["route", "created_at"], unique=False)
    op.create_index("ix_legacy_shadow_comparisons_created_at", "legacy_shadow_comparisons", ["created_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_legacy_shadow_comparisons_created_at", table_name="legacy_shadow_comparisons")
    op.drop_index("ix_legacy_shadow_comparisons_route_created_at", table_name="legacy_shadow_comparisons")
    op.drop_table("legacy_shadow_comparisons")
