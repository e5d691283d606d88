"""Promises 1 and 2 on the job queues' own ground: `seawall chaos crash-test`, CI-sized.

The classic job-queue crash test (see `seawall.chaos.crash_test`), run as an operator runs it: jobs
INSERT their number into a table with no unique key while a real `seawall worker` is SIGKILLed at
20 %, 45 % and 70 % of distinct progress and restarted. Every number must be there exactly once
(0 lost, 0 duplicated), on SQLite, PostgreSQL and PostgreSQL + RabbitMQ, with all three kills made and
the kills cutting jobs short. The full-size run (2,000 jobs) is the command's default; its figures
are in docs/guarantees.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.support.databases import PG_ADMIN_DSN
from tests.support.server import REPO_ROOT

JOBS = 200
TRANSPORTS = {"sqlite": "sqlite", "postgres": "postgres", "full": "rabbitmq"}  # test backend → --backend


def crash_test(*args: str) -> tuple[int, dict[str, Any], str]:
    """Run `seawall chaos crash-test ARGS --json`: (exit code, its report, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "seawall", "chaos", "crash-test", "--json", *args], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_no_row_is_lost_or_duplicated_when_the_worker_is_sigkilled_three_times(backend: str) -> None:
    seed = 14
    code, report, stderr = crash_test("--backend", TRANSPORTS[backend], "--jobs", str(JOBS), "--seed", str(seed),
                                      "--lease-seconds", "2", "--database-url", PG_ADMIN_DSN)

    assert f"seed {seed}" in stderr  # printed, so a failing run can be replayed
    assert (report["kills"], report["restarts"]) == (3, 3), report
    # The kills cut jobs short (each waits until the worker holds jobs; one may still land just after
    # a commit, so not every kill is required to).
    assert report["interrupted"] >= 1, report
    assert (report["lost"], report["duplicated"]) == (0, 0), report
    assert (report["rows"], report["unfinished"], report["dead"]) == (JOBS, 0, 0), report
    assert code == 0 and report["ok"] is True
