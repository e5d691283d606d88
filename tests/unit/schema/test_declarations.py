"""Promise: every migration says whether the release before it still runs against its schema
(expand/contract), a new migration cannot be added without saying it, and the revisions form one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command

from seawall.db import MIGRATIONS_DIR, alembic_config
from seawall.schema.declarations import Compatibility, ScriptHistory

SCRIPTS = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))


def test_the_package_holds_the_migrations() -> None:
    assert len(SCRIPTS) >= 14
    assert len(list(ScriptHistory())) == len(SCRIPTS)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.stem)
def test_each_migration_declares_its_compatibility(path: Path) -> None:
    history = ScriptHistory()
    declared = next(r for r in history if path.name.startswith(r.revision))
    assert declared.compatibility in set(Compatibility)
    assert len(declared.reason) >= 10 and "\n" not in declared.reason


def test_the_revisions_form_one_line() -> None:
    revisions = list(ScriptHistory())
    assert revisions[0].down_revision is None
    for older, newer in zip(revisions, revisions[1:], strict=False):
        assert newer.down_revision == older.revision


def test_the_audit_of_the_first_migrations() -> None:
    """0007 changed which column settles a plan: rows the previous release writes are misread."""
    contracts = [r.revision for r in ScriptHistory() if r.compatibility is Compatibility.CONTRACT]
    assert contracts == ["0007"]


def test_a_new_migration_from_the_template_fails_until_it_declares(tmp_path: Path) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    command.revision(alembic_config(location), message="a change", rev_id="9999")
    script = location / "versions" / "9999_a_change.py"
    assert script.is_file()

    with pytest.raises(ValueError, match=r"migration 9999 \(9999_a_change.py\): set `compatibility`"):
        ScriptHistory(location)

    text = script.read_text().replace("compatibility = None", 'compatibility = "expand"')
    script.write_text(text)
    with pytest.raises(ValueError, match="set `compatibility_reason`"):
        ScriptHistory(location)

    script.write_text(text.replace("compatibility_reason = None", 'compatibility_reason = "a new index only"'))
    assert ScriptHistory(location).head == "9999"


def test_a_misspelt_declaration_is_refused(tmp_path: Path) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    script = location / "versions" / "0005_jobs_due_partial_index.py"
    script.write_text(script.read_text().replace('compatibility = "expand"', 'compatibility = "compatible"'))
    with pytest.raises(ValueError, match=r"migration 0005 .*found 'compatible'"):
        ScriptHistory(location)


def test_a_prefix_of_several_revisions_is_ambiguous_and_lists_them() -> None:
    history = ScriptHistory()
    several = [declared.revision for declared in history if declared.revision.startswith("001")]
    assert len(several) > 1
    with pytest.raises(ValueError) as ambiguous:
        history.resolve("001")
    assert str(ambiguous.value) == f"ambiguous revision '001': the start of {', '.join(several)}"
    with pytest.raises(ValueError, match=r"^unknown revision 'zz'"):
        history.resolve("zz")
