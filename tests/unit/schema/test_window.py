"""Promise: a process starts against its head or one expand revision ahead, and refuses anything
else; `migrate --check` calls a migration safe for a rolling deploy exactly when the processes of the
database's release start against the result and run correctly on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.schema.declarations import Compatibility, DeclaredRevision, ScriptHistory
from seawall.schema.rollout import RolloutCheck, check_rollout
from seawall.schema.window import Position, assess
from tests.support.schema_scripts import scripts_ahead

CODE = ScriptHistory()
HEAD = CODE.head


def later(revision: str, down: str, kind: Compatibility = Compatibility.EXPAND) -> DeclaredRevision:
    return DeclaredRevision(revision=revision, down_revision=down, compatibility=kind, reason=f"why {revision}")


def test_at_the_head_it_starts() -> None:
    state = assess(HEAD, code=CODE, recorded={})
    assert state.position is Position.CURRENT and state.starts


@pytest.mark.parametrize("revision", [None, "0001", "0013"])
def test_behind_the_head_it_does_not_start(revision: str | None) -> None:
    state = assess(revision, code=CODE, recorded={})
    assert state.position is Position.BEHIND and not state.starts


def test_one_expand_revision_ahead_it_starts() -> None:
    state = assess("f001", code=CODE, recorded={"f001": later("f001", HEAD)})
    assert state.position is Position.AHEAD_COMPATIBLE and state.starts
    assert [r.revision for r in state.ahead] == ["f001"]


def test_one_contract_revision_ahead_it_refuses() -> None:
    state = assess("f001", code=CODE, recorded={"f001": later("f001", HEAD, Compatibility.CONTRACT)})
    assert state.position is Position.OUT_OF_WINDOW
    assert "f001 is a contract migration (why f001)" in state.problem


def test_two_expand_revisions_ahead_it_refuses() -> None:
    recorded = {"f001": later("f001", HEAD), "f002": later("f002", "f001")}
    state = assess("f002", code=CODE, recorded=recorded)
    assert state.position is Position.OUT_OF_WINDOW
    assert "2 revisions ahead (f001, f002)" in state.problem


@pytest.mark.parametrize("recorded", [{}, {"f002": later("f002", "elsewhere")}, {"f002": later("f002", "f002")}])
def test_a_revision_nobody_can_place_is_refused(recorded: dict[str, DeclaredRevision]) -> None:
    state = assess("f002", code=CODE, recorded=recorded)
    assert state.position is Position.OUT_OF_WINDOW
    assert "is not one this Seawall knows" in state.problem


@pytest.fixture(scope="module")
def later_release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ScriptHistory]:
    """Releases after this one: one expand revision, one contract, two expands."""
    made = {}
    for name, kinds in {"expand": ["expand"], "contract": ["contract"], "two": ["expand", "expand"]}.items():
        location, _ = scripts_ahead(tmp_path_factory.mktemp(name) / "migrations", kinds)
        made[name] = ScriptHistory(location)
    return made


def rollout(code: ScriptHistory, revision: str | None,
            recorded: dict[str, DeclaredRevision] | None = None) -> RolloutCheck:
    return check_rollout(assess(revision, code=code, recorded=recorded or {}), code)


def test_check_one_pending_expand_is_safe(later_release: dict[str, ScriptHistory]) -> None:
    result = rollout(later_release["expand"], HEAD)
    assert result.safe, result.verdict
    assert [(r.revision, r.compatibility) for r in result.pending] == [("f001", Compatibility.EXPAND)]
    assert f"processes of revision {HEAD} keep running and restarting" in result.verdict
    assert "run `seawall migrate` (the migration Job), then roll out" in result.advice


def test_check_a_pending_contract_is_not_safe(later_release: dict[str, ScriptHistory]) -> None:
    result = rollout(later_release["contract"], HEAD)
    assert not result.safe
    assert "f001 is a contract (drops users.plan" in result.verdict
    assert "a later one" in result.advice and f"stop every process of revision {HEAD}" in result.advice


def test_check_two_pending_revisions_are_not_safe(later_release: dict[str, ScriptHistory]) -> None:
    result = rollout(later_release["two"], HEAD)
    assert not result.safe
    assert "2 revisions ahead of the running processes" in result.verdict
    assert "one release per revision" in result.advice


def test_check_a_release_before_the_window_cannot_restart_on_a_newer_schema() -> None:
    result = rollout(CODE, "0013")
    assert not result.safe and [r.revision for r in result.pending][0] == "0014"
    assert "start against their own revision only" in result.verdict


def test_check_an_empty_database_and_the_head_are_safe() -> None:
    assert rollout(CODE, None).safe and len(rollout(CODE, None).pending) == len(list(CODE))
    assert rollout(CODE, HEAD).safe and rollout(CODE, HEAD).verdict.startswith("up to date")


def test_check_a_database_ahead_of_this_release() -> None:
    compatible = rollout(CODE, "f001", {"f001": later("f001", HEAD)})
    assert compatible.safe and [r.revision for r in compatible.extra] == ["f001"]
    assert f"`seawall migrate --to {HEAD}` with the release that migrated it" in compatible.advice
    contract = rollout(CODE, "f001", {"f001": later("f001", HEAD, Compatibility.CONTRACT)})
    assert not contract.safe and "refuse to start" in contract.verdict


def test_the_ahead_release_is_a_real_script_directory(later_release: dict[str, ScriptHistory]) -> None:
    assert later_release["two"].head == "f002" and later_release["two"].between(HEAD, "f002")[0].revision == "f001"
    assert Path(later_release["two"].location, "env.py").is_file()
