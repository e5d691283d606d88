"""`seawall bench jobs` runs end to end at a tiny size and reports a ratio, not only a rate."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.server import REPO_ROOT


def test_bench_jobs_reports_seawall_against_its_ceiling() -> None:
    result = subprocess.run([sys.executable, "-m", "seawall", "bench", "jobs", "--jobs", "40", "--json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["database"] == "sqlite" and report["jobs"] == 40
    assert report["seawall_jobs_per_second"] > 0 and report["ceiling_jobs_per_second"] > 0
    expected = report["seawall_jobs_per_second"] / report["ceiling_jobs_per_second"]
    assert abs(report["ratio_of_ceiling"] - expected) < 0.01
