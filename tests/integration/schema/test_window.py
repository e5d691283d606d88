"""Promise: against a schema a later release migrated, this release starts when it is one expand
revision ahead (with one warning line naming both revisions) and refuses one contract ahead, two
ahead, or behind, on SQLite and PostgreSQL; the embedded mode never downgrades a newer file. The
later release's schema is built by its own scripts (this release's plus fakes, `schema_scripts`),
run through this release's `env.py`, which records them in `schema_revisions`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from seawall.config import Settings
from seawall.db import Database
from seawall.errors import SchemaNotCurrentError
from seawall.schema.declarations import ScriptHistory
from seawall.schema.history import schema_revisions
from seawall.schema.rollout import check_rollout
from seawall.schema.runner import migrate_to
from seawall.schema.window import Position, database_state, prepare_schema
from tests.support.logs import captured_logs
from tests.support.schema_scripts import scripts_ahead

pytestmark = pytest.mark.backends("sqlite", "postgres")
HEAD = ScriptHistory().head


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


async def recorded(database: Database) -> list[tuple[str, str | None, str]]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(schema_revisions.c.revision, schema_revisions.c.down_revision,
                                               schema_revisions.c.compatibility).order_by(schema_revisions.c.revision))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_one_expand_revision_ahead_starts_with_a_warning(database: Database, tmp_path: Path) -> None:
    later, (revision,) = scripts_ahead(tmp_path / "later", ["expand"])
    # The later release's own check, before its migration Job runs: safe.
    before = check_rollout(await database_state(database, ScriptHistory(later)), ScriptHistory(later))
    assert before.safe and [r.revision for r in before.pending] == [revision], before.verdict

    assert [(s.direction, s.revision) for s in await migrate_to(database, "head", location=later)] == [
        ("upgrade", revision)]
    assert (revision, HEAD, "expand") in await recorded(database)

    for migrate in (False, True):  # a server-mode process; the embedded mode, which migrates on start
        with captured_logs() as logs:
            state = await prepare_schema(database, migrate=migrate)
        assert state.position is Position.AHEAD_COMPATIBLE
        warnings = [line for line in logs.lines() if line["event"] == "schema.ahead"]
        assert len(warnings) == 1 and warnings[0]["level"] == "warning"
        assert (warnings[0]["database_revision"], warnings[0]["code_revision"]) == (revision, HEAD)
        assert revision in warnings[0]["message"] and HEAD in warnings[0]["message"]
        assert (await database_state(database)).database_revision == revision  # never downgraded

    # This release cannot move a schema it has no scripts for; the later release rolls it back.
    with pytest.raises(SchemaNotCurrentError, match=f"at revision {revision}, which this Seawall .* does not know"):
        await migrate_to(database, "head")
    assert [(s.direction, s.revision) for s in await migrate_to(database, HEAD, location=later)] == [
        ("downgrade", revision)]
    assert revision not in [row[0] for row in await recorded(database)]
    assert (await prepare_schema(database, migrate=False)).position is Position.CURRENT


@pytest.mark.parametrize(("kinds", "problem"), [
    (["contract"], r"f001 is a contract migration \(drops users.plan"),
    (["expand", "expand"], r"it is 2 revisions ahead \(f001, f002\); a process starts at most one expand revision"),
])
async def test_a_contract_or_two_revisions_ahead_is_refused(database: Database, tmp_path: Path, kinds: list[str],
                                                           problem: str) -> None:
    later, revisions = scripts_ahead(tmp_path / "later", kinds)
    check = check_rollout(await database_state(database, ScriptHistory(later)), ScriptHistory(later))
    assert not check.safe, check.verdict

    await migrate_to(database, "head", location=later)
    for migrate in (False, True):
        with pytest.raises(SchemaNotCurrentError, match=f"at revision {revisions[-1]}, newer than this Seawall's "
                                                        f"{HEAD}, and {problem}") as refused:
            await prepare_schema(database, migrate=migrate)
        assert "\n" not in refused.value.message
        assert f"`seawall migrate --to {HEAD}`" in refused.value.message
        assert (await database_state(database)).database_revision == revisions[-1]


async def test_a_schema_behind_is_refused_and_the_embedded_mode_migrates_it(database: Database) -> None:
    await migrate_to(database, "0013")
    with pytest.raises(SchemaNotCurrentError, match=f"at revision 0013, this Seawall needs {HEAD}: run `seawall "
                                                    "migrate` first"):
        await prepare_schema(database, migrate=False)
    assert (await prepare_schema(database, migrate=True)).position is Position.CURRENT
    rows = await recorded(database)  # every revision after 0013, each recorded with its parent
    assert rows[0] == ("0014", "0013", "expand") and rows[-1][0] == HEAD
    assert [row[1] for row in rows[1:]] == [row[0] for row in rows[:-1]]
