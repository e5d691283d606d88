"""Alembic environment. Seawall runs migrations on a connection it hands over, inside its transaction
(`seawall.schema.runner`: `seawall migrate`, or the server on start in embedded mode); `render_as_batch`
keeps ALTERs working on SQLite. Each step is recorded in `schema_revisions` (`seawall.schema.history`)
and handed back in the config's `applied_steps` list. It configures no logging (no `fileConfig`):
Alembic's lines go to the process's one handler (`observability.logging`)."""

from __future__ import annotations

from alembic import context

import seawall.accounts.models  # noqa: F401  (register tables on Base.metadata)
import seawall.audit.models  # noqa: F401
import seawall.idempotency.models  # noqa: F401
import seawall.jobs.models  # noqa: F401
import seawall.legacy.models  # noqa: F401
import seawall.maintenance.models  # noqa: F401
import seawall.notifications.models  # noqa: F401
import seawall.payments.models  # noqa: F401
import seawall.webhooks.models  # noqa: F401
from seawall.db import Base
from seawall.schema.history import version_hook

target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `seawall migrate`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=version_hook(context.config.attributes.get("applied_steps")),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
