"""`seawall bench jobs` refuses what it cannot run with a one-line reason (the runs themselves are in
tests/acceptance/test_bench_jobs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from seawall.bench import pgqueuer_peer
from seawall.bench.workers import worker_env
from seawall.cli.main import app

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def test_peer_pgqueuer_without_the_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgqueuer_peer, "available", lambda: False)
    result = CliRunner().invoke(app, ["bench", "jobs", "--database-url", SERVER, "--peer", "pgqueuer"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [pgqueuer_peer.MISSING]


@pytest.mark.parametrize("option", [["--broker-url", "amqp://guest:guest@127.0.0.1:5672/"], ["--peer", "pgqueuer"]])
def test_broker_and_peer_need_a_postgresql_server(option: list[str]) -> None:
    result = CliRunner().invoke(app, ["bench", "jobs", *option])
    assert result.exit_code != 0 and "--database-url" in result.output


def test_an_unknown_peer_is_refused() -> None:
    result = CliRunner().invoke(app, ["bench", "jobs", "--database-url", SERVER, "--peer", "celery"])
    assert result.exit_code != 0 and "unknown peer" in result.output


def test_workers_get_the_runs_settings_and_none_of_the_callers_seawall_variables() -> None:
    env = worker_env({"PATH": "/bin", "SEAWALL_BROKER_URL": "amqp://elsewhere"},
                     {"database_url": "postgresql+asyncpg://h/db", "broker_url": None, "worker_concurrency": 4})
    assert env == {"PATH": "/bin", "SEAWALL_DATABASE_URL": "postgresql+asyncpg://h/db",
                   "SEAWALL_WORKER_CONCURRENCY": "4"}


@pytest.mark.parametrize("command", [["demo"], ["bench", "jobs"], ["bench", "write"], ["bench", "pipeline"]])
def test_html_into_a_missing_directory_is_refused_before_the_run(command: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*command, "--html", str(tmp_path / "nowhere" / "report.html")])
    assert result.exit_code == 2 and "does not exist" in _unboxed(result.output)


def test_html_onto_a_directory_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "jobs", "--html", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in _unboxed(result.output)


def _unboxed(output: str) -> str:
    """typer's error box, as one line of words."""
    return " ".join(output.replace("│", " ").split())
