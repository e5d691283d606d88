"""`seawall bench jobs` runs end to end, small, on every backend, with worker processes and the peer.

Each run prints one JSON object whose figures are all there and whose ratios are the quotients of the
rates it reports. No wall-clock thresholds: the figures themselves are the benchmark's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seawall.bench.workers import BenchWorkerError, WorkerGroup, worker_env
from tests.support.databases import PG_ADMIN_DSN, require_postgres
from tests.support.html_report import peak, read_html_report
from tests.support.server import REPO_ROOT
from tests.support.services import broker_url, require_rabbitmq

JOBS = 200
FIGURES = {"database", "transport", "jobs", "workers", "concurrency", "seawall_jobs_per_second", "seconds",
           "cpu_ms_per_job", "worker_rss_mb", "ceiling_jobs_per_second", "ceiling_connections", "ratio_of_ceiling"}
PEER_FIGURES = {"peer", "peer_batch_size", "pgqueuer_jobs_per_second", "pgqueuer_cpu_ms_per_job",
                "pgqueuer_worker_rss_mb", "ratio_of_pgqueuer"}
POSTGRES_URL = "postgresql+asyncpg://" + PG_ADMIN_DSN.split("://", 1)[1]


def bench_jobs(*args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "seawall", "bench", "jobs", "--jobs", str(JOBS), "--json", *args],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def assert_ratio(report: dict[str, Any], ratio: str, numerator: str, denominator: str) -> None:
    # Rates are rounded to 0.1 and ratios to 0.001 in the report.
    assert report[ratio] == pytest.approx(report[numerator] / report[denominator], rel=0.01, abs=0.002)


def assert_seawall_figures(report: dict[str, Any], *, database: str, transport: str, workers: int) -> None:
    assert FIGURES <= report.keys()
    assert (report["database"], report["transport"], report["jobs"], report["workers"]) == (
        database, transport, JOBS, workers)
    assert report["seawall_jobs_per_second"] > 0 and report["ceiling_jobs_per_second"] > 0
    assert report["cpu_ms_per_job"] > 0 and report["worker_rss_mb"] > 0
    assert_ratio(report, "ratio_of_ceiling", "seawall_jobs_per_second", "ceiling_jobs_per_second")


def test_sqlite_one_worker_process_reports_rate_cpu_and_memory_against_its_ceiling(tmp_path: Path) -> None:
    html = tmp_path / "jobs.html"
    report = bench_jobs("--workers", "1", "--html", str(html))
    assert_seawall_figures(report, database="sqlite", transport="database", workers=1)
    assert report["ceiling_connections"] == 1 and "ratio_of_pgqueuer" not in report
    # --html: the run charted from the jobs table and the attempts' own times.
    data = read_html_report(html)
    assert sum(b["count"] for b in data["latency"]["job attempt, claim → completion"]) == JOBS
    assert peak(data["queue_depth"]["queued"]) == JOBS  # sampled before the workers were released
    assert data["queue_depth"]["queued"][-1][1] == 0
    assert peak(data["throughput"]["jobs succeeded/s"]) > 0
    assert data["breaker"] == {}  # no provider is called: nothing to sample


@pytest.mark.postgres
def test_postgres_two_worker_processes_share_the_jobs_in_a_fresh_database() -> None:
    require_postgres()
    report = bench_jobs("--workers", "2", "--database-url", POSTGRES_URL)
    assert_seawall_figures(report, database="postgresql", transport="database", workers=2)


@pytest.mark.postgres
def test_postgres_with_rabbitmq_runs_the_workers_on_the_broker_transport() -> None:
    require_postgres()
    require_rabbitmq()
    report = bench_jobs("--database-url", POSTGRES_URL, "--broker-url", broker_url(""))
    assert_seawall_figures(report, database="postgresql", transport="rabbitmq", workers=1)
    assert report["broker_published_jobs"] > 0  # the work went through the broker, not only the table
    # The transport's floor, measured in the same run: aio-pika alone, per message.
    assert report["broker_floor_cpu_ms_per_message"] > 0 and report["broker_floor_messages_per_second"] > 0


@pytest.mark.postgres
def test_pgqueuer_peer_runs_the_same_jobs_and_gives_the_ratio() -> None:
    require_postgres()
    report = bench_jobs("--database-url", POSTGRES_URL, "--peer", "pgqueuer", "--peer-batch-size", "10")
    assert_seawall_figures(report, database="postgresql", transport="database", workers=1)
    assert PEER_FIGURES <= report.keys() and report["peer"] == "pgqueuer" and report["peer_batch_size"] == 10
    assert report["pgqueuer_cpu_ms_per_job"] > 0 and report["pgqueuer_worker_rss_mb"] > 0
    assert_ratio(report, "ratio_of_pgqueuer", "seawall_jobs_per_second", "pgqueuer_jobs_per_second")


async def test_a_worker_that_cannot_start_fails_the_run_with_its_stderr() -> None:
    group = WorkerGroup(["no-such-engine"], count=2, env=worker_env(os.environ, {}))
    try:
        with pytest.raises(BenchWorkerError, match="(?s)failed to start.*invalid choice"):
            await group.start(timeout=60)
    finally:
        await group.stop()
