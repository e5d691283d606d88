"""Promise: every migration's downgrade undoes exactly its upgrade, on SQLite and PostgreSQL, and
keeps the rows of the tables it leaves in place.

The stairway: from an empty database, for each revision in turn, upgrade to it, downgrade one step,
and upgrade again; the schema after the downgrade must equal the schema the upgrade started from
(reflected: tables, columns, keys, indexes, constraints), and the schema after the second upgrade the
one after the first. Then rows are written at the head and the database is downgraded one revision
at a time to the base: after each step the schema equals the one a fresh upgrade to that revision
built, and every row survives in the tables still there (a table rebuild on SQLite used to delete
them through `ON DELETE CASCADE`, see `seawall.schema.runner`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, text

from seawall.config import Settings
from seawall.db import Database
from seawall.schema.declarations import ScriptHistory
from seawall.schema.runner import migrate_to
from tests.support.databases import create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.backends("sqlite", "postgres")

SEEDED = {  # table → the rows the seed writes (at the head), checked at every step down
    "users": 1, "auth_sessions": 1, "password_resets": 1, "payments": 1, "ledger_entries": 1, "refunds": 1,
    "jobs": 2, "job_attempts": 1, "notifications": 1, "webhook_endpoints": 1, "audit_events": 1,
}
SEED = [
    "INSERT INTO users (id, email, password_hash, status, plan, created_at, updated_at) "
    "VALUES ('u1', 'a@example.com', 'h', 'active', 'pro', :t, :t)",
    "INSERT INTO auth_sessions (id, user_id, token_digest, created_at, expires_at, last_used_at) "
    "VALUES ('s1', 'u1', 'd1', :t, :t, :t)",
    "INSERT INTO password_resets (id, user_id, token_digest, created_at, expires_at) VALUES ('r1', 'u1', 'd2', :t, :t)",
    "INSERT INTO payments (id, user_id, amount, currency, payment_method, purpose, status, provider_outcome_unknown, "
    "amount_refunded, created_at, updated_at) VALUES ('p1', 'u1', 500, 'usd', 'pm', 'signup:pro', 'succeeded', "
    "false, 0, :t, :t)",
    "INSERT INTO ledger_entries (transaction_id, account, side, amount, currency, payment_id, created_at) "
    "VALUES ('t1', 'cash', 'debit', 500, 'usd', 'p1', :t)",
    "INSERT INTO refunds (id, payment_id, amount, status, provider_outcome_unknown, created_at, updated_at) "
    "VALUES ('f1', 'p1', 100, 'pending', true, :t, :t)",
    "INSERT INTO jobs (kind, queue, payload, status, attempts, max_attempts, next_run_at, created_at, updated_at) "
    "VALUES ('x.y', 'q', '{}', 'queued', 0, 5, :t, :t, :t)",
    "INSERT INTO jobs (kind, queue, payload, status, attempts, max_attempts, next_run_at, created_at, updated_at, "
    "finished_at) VALUES ('x.y', 'q', '{}', 'succeeded', 1, 5, :t, :t, :t, :t)",
    "INSERT INTO job_attempts (job_id, attempt, worker_id, lease_token, outcome, started_at) "
    "SELECT id, 1, 'w', 'l', 'succeeded', :t FROM jobs WHERE status = 'succeeded'",
    "INSERT INTO notifications (id, user_id, event_type, event_key, channel, payload, status, attempts, created_at) "
    "VALUES ('n1', 'u1', 'welcome', 'k', 'email', '{}', 'sent', 1, :t)",
    "INSERT INTO webhook_endpoints (id, user_id, url, event_types, secret, status, created_at, updated_at) "
    "VALUES ('e1', 'u1', 'https://example.com/h', '[]', 's', 'enabled', :t, :t)",
    "INSERT INTO audit_events (id, created_at, action, outcome, actor_type, details) "
    "VALUES ('a1', :t, 'login', 'ok', 'user', '{}')",
]


@pytest.fixture
async def empty_database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    url = create_postgres_database() if backend == "postgres" else None
    database = Database(Settings(var_dir=tmp_path, database_url=url, secret_key="s" * 32 if url else None))
    try:
        yield database
    finally:
        await database.dispose()
        if url:
            drop_postgres_database(url)


def reflect(connection: Connection) -> dict[str, Any]:
    """Everything the inspector sees of the schema but Alembic's own version table, as plain values
    (one catalog query per kind for all tables: SQLAlchemy's `get_multi_*`)."""
    inspector = inspect(connection)
    columns, primary_keys = inspector.get_multi_columns(), inspector.get_multi_pk_constraint()
    foreign_keys, indexes = inspector.get_multi_foreign_keys(), inspector.get_multi_indexes()
    uniques, checks = inspector.get_multi_unique_constraints(), inspector.get_multi_check_constraints()
    schema: dict[str, Any] = {}
    for key in sorted(columns, key=lambda key: key[1]):
        if key[1] == "alembic_version":
            continue
        schema[key[1]] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], _default(c.get("default"))) for c in columns[key]],
            "primary_key": primary_keys[key]["constrained_columns"],
            "foreign_keys": sorted((fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"],
                                    tuple(fk["referred_columns"]), str(fk.get("options"))) for fk in foreign_keys[key]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]),
                               str(sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items())))
                              for i in indexes[key]),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in uniques[key]),
            "checks": sorted((c["name"], c["sqltext"]) for c in checks[key]),
        }
    return schema


def _default(value: Any) -> str | None:
    return None if value is None else str(value).strip("()").strip("'")


async def schema_of(database: Database) -> dict[str, Any]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(reflect)


async def row_counts(database: Database, tables: set[str]) -> dict[str, int]:
    async with database.engine.connect() as connection:
        present = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        return {table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in sorted(tables & present)}


async def test_every_downgrade_undoes_its_upgrade_and_keeps_the_rows(empty_database: Database) -> None:
    database = empty_database
    revisions = [r.revision for r in ScriptHistory()]
    fresh: dict[str | None, dict[str, Any]] = {None: await schema_of(database)}
    previous: str | None = None
    for revision in revisions:  # the stairway up
        assert [s.revision for s in await migrate_to(database, revision)] == [revision]
        fresh[revision] = await schema_of(database)
        assert [(s.direction, s.revision) for s in await migrate_to(database, previous or "base")] == [
            ("downgrade", revision)]
        assert await schema_of(database) == fresh[previous], f"downgrade of {revision}"
        await migrate_to(database, revision)
        assert await schema_of(database) == fresh[revision], f"upgrade of {revision} after its downgrade"
        previous = revision

    async with database.engine.begin() as connection:
        for statement in SEED:
            await connection.execute(text(statement), {"t": datetime(2026, 11, 30, 12, tzinfo=UTC)})
    assert await row_counts(database, set(SEEDED)) == SEEDED

    for revision, below in zip(reversed(revisions), [*reversed(revisions[:-1]), None], strict=True):  # all the way down
        steps = await migrate_to(database, below or "base")
        assert [(s.direction, s.revision, s.parent) for s in steps] == [("downgrade", revision, below)]
        assert await schema_of(database) == fresh[below], f"the schema after downgrading {revision}"
        left = await row_counts(database, set(SEEDED))
        assert left == {table: SEEDED[table] for table in left}, f"rows lost downgrading {revision}"
    assert fresh[None] == {}
