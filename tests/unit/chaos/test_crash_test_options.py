"""`seawall chaos crash-test`'s options: a bad one is one line and exit 2, before anything runs; the seed
alone decides drawn kill points."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seawall.chaos.crash_test import CrashTestOptions, random_kill_points
from seawall.cli.main import app


@pytest.mark.parametrize(("options", "named"), [
    (["--kill-at", "20", "--kills", "2"], "--kills"),
    (["--kill-at", "0,50"], "--kill-at"),
    (["--kill-at", "abc"], "--kill-at"),
    (["--backend", "mysql"], "--backend"),
    (["--backend", "postgres", "--database-url", "mysql://localhost/x"], "--database-url"),
    (["--jobs", "5"], "--jobs"),
])
def test_a_bad_option_names_itself_and_exits_2(options: list[str], named: str) -> None:
    result = CliRunner().invoke(app, ["chaos", "crash-test", *options])
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


def test_drawn_kill_points_are_the_seed_s_alone_and_within_10_to_90_percent() -> None:
    points = random_kill_points(5, seed=42)
    assert points == random_kill_points(5, seed=42) != random_kill_points(5, seed=43)
    assert list(points) == sorted(points) and all(0.10 <= point <= 0.90 for point in points)


def test_options_refuse_an_unknown_backend_and_a_point_outside_the_run() -> None:
    with pytest.raises(ValueError, match="backend"):
        CrashTestOptions(backend="mysql")
    with pytest.raises(ValueError, match="between 0 and 1"):
        CrashTestOptions(kill_at=(0.5, 1.0))


def test_a_run_that_lost_or_duplicated_a_row_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from seawall.chaos import crash_test

    def duplicating_run(options: CrashTestOptions) -> crash_test.CrashTestReport:
        return crash_test.CrashTestReport(backend=options.backend, jobs=options.jobs, seed=options.seed,
                                          kill_at=list(options.kill_at), lease_seconds=options.lease_seconds,
                                          concurrency=options.concurrency, kills=3, rows=options.jobs + 1,
                                          distinct=options.jobs, duplicated=1)

    monkeypatch.setattr(crash_test, "run", duplicating_run)
    result = CliRunner().invoke(app, ["chaos", "crash-test", "--jobs", "10", "--seed", "5", "--json"])
    assert result.exit_code == 1, result.output
    assert '"duplicated": 1' in result.output and '"ok": false' in result.output
