"""The main job: `seawall demo` run small as a real process; its JSON report must hold every invariant,
checked against the sandbox's own records, across a SIGKILL of its worker mid-charging (DESIGN §1
promise 1), and its `--html` report must chart the run."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.html_report import peak, read_html_report
from tests.support.server import REPO_ROOT, recording_environment


def test_demo_small_run_holds_every_invariant(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["SEAWALL_VAR_DIR"] = str(tmp_path / "var")
    env.update(recording_environment())
    html = tmp_path / "report.html"
    result = subprocess.run([sys.executable, "-m", "seawall", "demo", "--users", "40", "--json", "--html", str(html)],
                            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    report = json.loads(result.stdout)
    failed = [check for check in report["checks"] if not check["ok"]]
    assert result.returncode == 0, (failed, report["figures"].get("server_log_tail"))
    assert report["ok"] is True and not failed
    invariants = report["invariants"]
    assert invariants["accepted_signups_lost"] == 0
    assert invariants["payments_charged_twice"] == 0
    assert invariants["payment_states_disagreeing_with_provider"] == 0
    assert invariants["refunds_disagreeing_with_provider"] == 0
    assert report["figures"]["payments_by_status"].get("failed", 0) < 40  # declines happened, not everything
    assert_the_worker_was_killed_mid_charging_and_its_jobs_ran_again(report)
    assert_html_report_charts_the_run(html, requests=report["figures"]["requests"])


def assert_the_worker_was_killed_mid_charging_and_its_jobs_ran_again(report: dict[str, Any]) -> None:
    """One SIGKILL (the default `--kills 1`) while the worker held at least one payment job, a new worker
    process, and every job the dead one held run again by another worker; then both processes drained."""
    kills = report["figures"]["worker_kills"]
    assert len(kills) == 1, kills
    kill = kills[0]
    assert kill["held_by_kind"].get("payments.charge", 0) >= 1, kill
    assert 0 < kill["intents_at_kill"] < kill["intents_expected"], kill  # mid-charging, not before or after
    assert kill["restarted_pid"] is not None and kill["restarted_pid"] != kill["pid"], kill
    assert kill["ran_again"] == kill["held_jobs"] and kill["rerun_seconds"] is not None, kill
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["the API and the worker drain and exit cleanly on SIGTERM"]["ok"]


def assert_html_report_charts_the_run(html: Path, *, requests: int) -> None:
    """Self-contained, four charts, and numbers that agree with the run: every answer counted once in the
    latency buckets, the queue seen non-empty, jobs succeeding, the breaker of the payment route sampled."""
    data = read_html_report(html)
    assert sum(bucket["count"] for bucket in data["latency"]["API requests"]) == requests
    assert peak(data["throughput"]["API requests completed/s"]) > 0
    assert peak(data["throughput"]["jobs succeeded/s"]) > 0
    assert len(data["queue_depth"]["queued"]) >= 5 and peak(data["queue_depth"]["queued"]) > 0
    assert data["breaker"] and all(len(rows) >= 5 for rows in data["breaker"].values())
    assert {phase["name"] for phase in data["phases"]} >= {"paid sign-ups, each followed by a login", "refunds"}


def test_a_second_demo_on_the_same_data_directory_refuses_to_start(tmp_path: Path) -> None:
    """It would otherwise delete the running demo's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["SEAWALL_VAR_DIR"] = str(tmp_path / "var")
    running = tmp_path / "var" / "demo" / "seawall.db"
    running.parent.mkdir(parents=True)
    running.write_bytes(b"the first demo's database")
    with open(tmp_path / "var" / "demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the first demo holds it
        result = subprocess.run([sys.executable, "-m", "seawall", "demo", "--users", "1", "--json"], env=env,
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "another `seawall demo` is running" in result.stderr
    assert running.read_bytes() == b"the first demo's database"
