"""Promise: the schema the migrations build is the one the models describe, on SQLite and PostgreSQL
(Alembic's autogenerate comparison finds nothing to change), so a model column without its migration
(or the reverse) fails here rather than in production."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import seawall.maintenance.models  # noqa: F401  (routine_runs: imported by no domain)
import seawall.runtime  # noqa: F401  (imports every domain, so every model is in `Base.metadata`)
import seawall.schema.history  # noqa: F401  (schema_revisions: kept by the migrations themselves)
from seawall.config import Settings
from seawall.db import Base, Database

pytestmark = pytest.mark.backends("sqlite", "postgres")


async def test_migrations_at_head_match_the_models(settings: Settings) -> None:
    database = Database(settings)
    try:
        await database.migrate()
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    finally:
        await database.dispose()
    assert differences == []
