"""Promise: a migration run reports what went wrong, and concurrent runs do not collide.

- A script that fails is `MigrationFailedError`, `migration REV failed: <first line>`, through the
  same `run_with_runtime`/`first_contact` path as `seawall migrate` (not "cannot use the database"),
  and nothing of the run is kept (the revision stays where it was; on PostgreSQL the steps before the
  failing one are rolled back too).
- Two `seawall migrate` processes at once on a fresh PostgreSQL database (two migration Jobs) both
  succeed: the advisory lock makes the second wait; it then finds the schema at the head and applies
  nothing. (Without the lock one fails on `pg_type_typname_nsp_index`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from seawall.cli.runner import run_with_runtime
from seawall.config import Settings
from seawall.errors import MigrationFailedError
from seawall.runtime import Runtime
from seawall.schema.declarations import ScriptHistory
from seawall.schema.runner import AppliedStep, migrate_to
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.schema_scripts import scripts_ahead
from tests.support.server import REPO_ROOT

HEAD = ScriptHistory().head


@pytest.mark.backends("sqlite", "postgres")
def test_a_failing_migration_is_named_and_nothing_of_the_run_is_kept(backend: str, tmp_path: Path) -> None:
    later, (expand, broken) = scripts_ahead(tmp_path / "later", ["expand", "broken"])
    url = create_postgres_database() if backend == "postgres" else None
    settings = Settings(var_dir=tmp_path, database_url=url, secret_key="s" * 32 if url else None)
    try:
        run_with_runtime(lambda runtime: migrate_to(runtime.database, "head"), settings=settings)

        async def to_later_head(runtime: Runtime) -> list[AppliedStep]:
            return await migrate_to(runtime.database, "head", location=later)

        with pytest.raises(MigrationFailedError) as failed:
            run_with_runtime(to_later_head, settings=settings)
        assert failed.value.message.startswith(f"migration {broken} failed: "), failed.value.message
        assert "no_such_table" in failed.value.message and "\n" not in failed.value.message

        async def state(runtime: Runtime) -> tuple[str | None, bool]:
            async with runtime.database.engine.connect() as connection:
                tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            return await runtime.database.current_revision(), f"later_feature_{expand}" in tables

        revision, expand_table = run_with_runtime(state, settings=settings)
        assert revision == HEAD
        if backend == "postgres":  # transactional DDL: the expand step before the failing one is undone
            assert not expand_table
    finally:
        if url:
            drop_postgres_database(url)


@pytest.mark.backends("postgres")
def test_two_migrate_processes_at_once_on_a_fresh_database_both_succeed(tmp_path: Path) -> None:
    url = create_postgres_database()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")},
           "SEAWALL_DATABASE_URL": url, "SEAWALL_SECRET_KEY": "s" * 32, "SEAWALL_VAR_DIR": str(tmp_path)}
    try:
        jobs = [subprocess.Popen([sys.executable, "-m", "seawall", "migrate", "--json"], env=env, cwd=REPO_ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(job.wait(timeout=120), job.stdout.read(), job.stderr.read()) for job in jobs if job.stdout]
        assert [code for code, _, _ in results] == [0, 0], results
        runs = [json.loads(stdout) for _, stdout, _ in results]
        assert [run["revision"] for run in runs] == [HEAD, HEAD]
        steps = sorted((run["steps"] for run in runs), key=len)
        assert steps[0] == [] and [step["revision"] for step in steps[1]] == [
            declared.revision for declared in ScriptHistory()], "every revision applied once, by one of them"
    finally:
        drop_postgres_database(url)
