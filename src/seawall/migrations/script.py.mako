"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

# Rolling deploys (seawall.schema.declarations): can the previous release run against this schema?
# "expand" if it can (new tables, nullable columns, columns with a server default, indexes); "contract"
# if not (it drops or renames what that release uses, adds a NOT NULL column without a server default,
# changes what a value means). Required: tests/unit/schema fails until both lines are filled in.
compatibility = None
compatibility_reason = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
