"""`seawall bench write` runs end to end at a tiny size, on the embedded file and on PostgreSQL, and its
JSON carries every figure: rates, latency percentiles, CPU per request, RSS, ratios and the half-rate pass.

No wall-clock thresholds: only that each figure is there, positive where it must be, and that the
ratios are the quotients of the rates reported beside them. Each pass is the command's shortest
(`--duration 1`, after a 0.2 s warm-up): the figures' presence and arithmetic do not depend on the
length; the process start-ups are most of what is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.databases import PG_ADMIN_DSN, require_postgres
from tests.support.html_report import peak, read_html_report
from tests.support.server import REPO_ROOT

SYSTEMS = ("seawall", "peer", "ceiling")
POSITIVE = ("requests_per_second", "requests", "seconds", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request",
            "max_rss_mb", "processes")


def _bench_write(*extra: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "seawall", "bench", "write", "--api-workers", "1", "--concurrency", "4",
               "--duration", "1", "--warmup", "0.2", "--json", *extra]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _assert_every_figure(report: dict[str, Any], database: str) -> None:
    config = report["config"]
    assert config["database"] == database
    assert (config["api_workers"], config["concurrency"], config["duration_seconds"]) == (1, 4, 1.0)
    assert config["load_generator"] == ("wrk" if shutil.which("wrk") else "python")
    assert config["ceiling_connections"] == (1 if database == "sqlite" else 4)
    if os.environ.get("CI") == "true":  # .ci/run installs wrk
        assert config["load_generator"] == "wrk"
    for system in (*SYSTEMS, "half_rate"):
        figures = report[system]
        for key in POSITIVE:
            assert figures[key] > 0, (system, key, figures)
        assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], (system, figures)
        if system != "ceiling":  # the ceiling's driver is its own client
            assert figures["client_cpu_ms_per_request"] >= 0, (system, figures)
        # Every request carried a fresh Idempotency-Key: nothing was refused, replayed or lost.
        assert figures["non_2xx"] == 0 and figures["errors"] == 0, (system, figures)
    rates = {system: report[system]["requests_per_second"] for system in SYSTEMS}
    ratios = report["ratios"]
    assert ratios["seawall_to_peer"] == pytest.approx(rates["seawall"] / rates["peer"], rel=0.01, abs=0.002)
    assert ratios["seawall_to_ceiling"] == pytest.approx(rates["seawall"] / rates["ceiling"], rel=0.01, abs=0.002)
    half = report["half_rate"]
    assert half["target_requests_per_second"] == pytest.approx(rates["seawall"] / 2, rel=0.01, abs=0.1)


def test_bench_write_on_the_embedded_file_reports_every_figure(tmp_path: Path) -> None:
    html = tmp_path / "write.html"
    report = _bench_write("--html", str(html))
    _assert_every_figure(report, "sqlite")
    # --html: every measured pass is a phase, the half-rate pass (Python) has its responses in the latency
    # buckets, and the job rows every write adds are seen growing.
    data = read_html_report(html)
    assert [phase["name"] for phase in data["phases"]] == ["seawall", "seawall, half rate", "naive peer", "ceiling"]
    half = data["latency"]["seawall, half rate"]
    assert sum(b["count"] for b in half) == report["half_rate"]["requests"] + report["half_rate"]["errors"]
    assert peak(data["queue_depth"]["queued"]) >= report["seawall"]["requests"] + report["peer"]["requests"]
    assert peak(data["throughput"]["jobs enqueued/s"]) > 0
    wrk_passes = [p for p in data["phases"] if p["percentiles_ms"] is not None]
    assert {p["name"] for p in wrk_passes} >= {"ceiling"}  # wrk and the ceiling: whole-pass percentiles
    assert all(0 < p["percentiles_ms"]["p50"] <= p["percentiles_ms"]["p99"] for p in wrk_passes)


@pytest.mark.postgres
def test_bench_write_on_postgres_reports_every_figure_and_drops_its_database() -> None:
    require_postgres()
    report = _bench_write("--database-url", PG_ADMIN_DSN)
    _assert_every_figure(report, "postgresql")
    assert asyncio.run(_databases_named(report["config"]["database_name"])) == 0


async def _databases_named(name: str) -> int:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


def test_bench_write_metrics_cost_alternates_the_two_arms_and_reports_their_ratio(tmp_path: Path) -> None:
    html = tmp_path / "metrics-cost.html"
    report = _bench_write("--metrics-cost", "--rounds", "1", "--html", str(html))
    data = read_html_report(html)  # --html: each pass a phase, every committed write seen in the jobs table
    assert [phase["name"] for phase in data["phases"]] == ["metrics_off, round 1", "metrics_on, round 1"]
    assert peak(data["queue_depth"]["queued"]) >= sum(row["requests"] for row in report["passes"])
    assert [(row["arm"], row["round"]) for row in report["passes"]] == [("metrics_off", 1), ("metrics_on", 1)]
    for row in report["passes"]:
        assert row["requests"] > 0 and row["cpu_ms_per_request"] > 0, row
        assert row["non_2xx"] == 0 and row["errors"] == 0, row
    means = report["cpu_ms_per_request"]
    assert report["metrics_on_to_off"] == pytest.approx(means["metrics_on"] / means["metrics_off"], abs=0.002)
    assert report["within_budget"] == (report["metrics_on_to_off"] <= report["budget_ratio"] == 1.05)
