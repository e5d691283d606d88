"""`seawall bench pipeline` runs the paid path end to end at a tiny size: every figure is reported and
every effect happened exactly once at the providers (embedded SQLite, and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.support.databases import PG_ADMIN_DSN, require_postgres
from tests.support.server import REPO_ROOT

LATENCIES = ("signup_to_charge", "signup_to_welcome_email", "payment_to_webhook", "signup_request")
FIGURES = ("wall_seconds", "signups_per_second", "jobs_succeeded", "jobs_per_second", "server_cpu_seconds",
           "server_cpu_ms_per_signup", "server_cpu_ms_per_job", "server_rss_mb", "server_rss_mb_total")


def _bench(*args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "seawall", "bench", "pipeline", "--signups", "20", "--json", *args],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _assert_complete(report: dict[str, Any]) -> None:
    assert report["ok"] is True and report["exactly_once"]["ok"] is True
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    assert report["signups"] == 20 and report["webhook_payments"] == 5
    for name in FIGURES:
        assert report[name] > 0, name
    # Each sign-up: charge, welcome, receipt; each subscriber payment: charge, receipt, webhook delivery.
    assert report["jobs_succeeded"] == 20 * 3 + 5 * 3
    expected_counts = {"signup_to_charge": 20, "signup_to_welcome_email": 20, "payment_to_webhook": 5,
                       "signup_request": 20}
    for name in LATENCIES:
        figures = report[name]
        assert figures["count"] == expected_counts[name], name
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"], name
    assert report["responses_by_status"] == {"202": 25}


def test_bench_pipeline_on_the_embedded_database() -> None:
    report = _bench()
    assert report["database"] == "sqlite"
    _assert_complete(report)


def test_bench_pipeline_on_postgresql() -> None:
    require_postgres()
    report = _bench("--database-url", PG_ADMIN_DSN)
    assert report["database"] == "postgresql"
    _assert_complete(report)
