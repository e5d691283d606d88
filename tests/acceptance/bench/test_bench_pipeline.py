"""`seawall bench pipeline` runs the paid path end to end at a tiny size: every figure is reported and
every effect happened exactly once at the providers (embedded SQLite, and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import PG_ADMIN_DSN, require_postgres
from tests.support.html_report import peak, read_html_report
from tests.support.server import REPO_ROOT

LATENCIES = ("signup_to_charge", "signup_to_welcome_email", "payment_to_webhook", "signup_request")
FIGURES = ("wall_seconds", "signups_per_second", "jobs_succeeded", "jobs_per_second", "server_cpu_seconds",
           "server_cpu_ms_per_signup", "server_cpu_ms_per_job", "server_rss_mb", "server_rss_mb_total")


def _bench(*args: str, signups: int = 20) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "seawall", "bench", "pipeline", "--signups", str(signups), "--json",
                             *args],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _assert_complete(report: dict[str, Any], *, signups: int = 20, payments: int = 5) -> None:
    assert report["ok"] is True and report["exactly_once"]["ok"] is True
    assert all(check["ok"] for check in report["checks"]), report["checks"]
    assert report["signups"] == signups and report["webhook_payments"] == payments
    for name in FIGURES:
        assert report[name] > 0, name
    # Each sign-up: charge, welcome, receipt; each subscriber payment: charge, receipt, webhook delivery.
    assert report["jobs_succeeded"] == signups * 3 + payments * 3
    expected_counts = {"signup_to_charge": signups, "signup_to_welcome_email": signups,
                       "payment_to_webhook": payments, "signup_request": signups}
    for name in LATENCIES:
        figures = report[name]
        assert figures["count"] == expected_counts[name], name
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"], name
    assert report["responses_by_status"] == {"202": signups + payments}


def test_bench_pipeline_on_the_embedded_database(tmp_path: Path) -> None:
    html = tmp_path / "pipeline.html"
    report = _bench("--html", str(html))
    assert report["database"] == "sqlite"
    _assert_complete(report)
    # --html: every measured request and every effect in the latency buckets, the queue and the breaker sampled.
    data = read_html_report(html)
    counts = {name: sum(b["count"] for b in buckets) for name, buckets in data["latency"].items()}
    assert counts == {"requests (sign-ups and payments)": 25, "sign-up → charge": 20, "sign-up → welcome email": 20,
                      "payment → webhook": 5}
    assert peak(data["queue_depth"]["queued"]) + peak(data["queue_depth"]["running"]) > 0
    assert peak(data["throughput"]["jobs succeeded/s"]) > 0
    assert data["breaker"] and {level for rows in data["breaker"].values() for _, level in rows} == {0}  # faults off


@pytest.mark.postgres
def test_bench_pipeline_on_postgresql() -> None:
    require_postgres()
    report = _bench("--database-url", PG_ADMIN_DSN)
    assert report["database"] == "postgresql"
    _assert_complete(report)


@pytest.mark.postgres
def test_bench_pipeline_with_separate_worker_processes_on_postgresql() -> None:
    require_postgres()
    report = _bench("--database-url", PG_ADMIN_DSN, "--workers", "2", signups=10)
    assert report["server_roles"] == "seawall api + 2 seawall worker" and report["server_processes"] == 3
    _assert_complete(report, signups=10, payments=2)
