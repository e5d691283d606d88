"""auth_sessions.last_used_at: when the session last authenticated a request (the idle timeout)

Written at login and then at most every min(idle / 24, 5 min) per session (see
`accounts.service.resolve_session`), not on every request. Existing sessions count as last used at
their login; a NULL (a row written by an older version during a rolling deploy) reads the same way.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
compatibility = "expand"
compatibility_reason = ("a nullable column; a NULL (a session the previous release wrote) reads as last used at its"
                        " login")


def upgrade() -> None:
    # Nullable, no default: ADD COLUMN is instant on PostgreSQL and needs no table rebuild on SQLite.
    op.add_column("auth_sessions", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE auth_sessions SET last_used_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch_op:
        batch_op.drop_column("last_used_at")
