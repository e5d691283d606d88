"""The main job: `seawall demo` run small as a real process; its JSON report must hold every check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import REPO_ROOT


def test_demo_runs_the_core_flows_and_every_check_holds(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env["SEAWALL_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run([sys.executable, "-m", "seawall", "demo", "--users", "3", "--json"], env=env,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    report = json.loads(result.stdout)
    failed = [check for check in report["checks"] if not check["ok"]]
    assert result.returncode == 0, (failed, report["figures"].get("server_log_tail"))
    assert report["ok"] is True
    assert len(report["checks"]) >= 15
    assert report["figures"]["jobs"]["dead"] == 0
