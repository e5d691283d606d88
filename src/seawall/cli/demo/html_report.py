"""`seawall demo --html FILE`: what the demo samples while it runs, and the page it writes at the end.

Sources, stated on the page under each chart:
- latency and requests/s: every answer the demo's client got (`workload.Recorder` with a timeline);
- queue depth and jobs/s: the jobs table of the demo's embedded database, counted by state every
  0.5 s from this process (`reports.probes.JobCountProbe`, a read-only SQLite connection);
- breaker state: the breakers of the process that makes the provider calls, every 0.5 s — by default the
  demo's `seawall worker`, from its metrics port (`worker_kills.WorkerBreakerProbe`; a gap while a killed
  worker restarts); with `--kills 0`, `GET /admin/providers` of `seawall serve`, whose embedded worker
  makes them (`reports.probes.BreakerProbe`).
"""

from __future__ import annotations

from pathlib import Path

from seawall.cli.demo.report import DemoReport, figure_rows
from seawall.cli.demo.worker_kills import WorkerBreakerProbe, WorkerSide
from seawall.config import Settings
from seawall.reports.probes import BreakerProbe, JobCountProbe
from seawall.reports.timeline import Probe, Sampler, Timeline

SAMPLE_SECONDS = 0.5
SOURCES = {
    "chart-latency": "Every answer the demo's client received (all routes, client retries included), by the "
                     "time it arrived.",
    "chart-queue-depth": "The jobs table of the demo's database, counted by state every 0.5 s from the demo "
                         "process (the query behind GET /admin/jobs/stats).",
    "chart-breaker": "Every 0.5 s, the breaker of each payment provider in the process that makes the provider "
                     "calls: the `seawall worker`'s metrics port (none while a killed worker restarts), or with "
                     "--kills 0 GET /admin/providers of `seawall serve`. The sandbox's outage is shaded within the "
                     "sign-up phase.",
    "chart-throughput": "Answers per bucket from the client's records; jobs succeeded/s and enqueued/s from the "
                        "sampled jobs-table counts.",
}


def start_sampler(timeline: Timeline, *, data_dir: Path, base_url: str, admin_key: str,
                  worker: WorkerSide | None = None) -> Sampler:
    """Start sampling the server on `base_url` whose embedded database lives in `data_dir`; with a separate
    `worker`, its breakers (from its metrics port) rather than the API's, which makes no provider calls."""
    breakers: Probe = BreakerProbe(base_url, admin_key) if worker is None else WorkerBreakerProbe(worker)
    probes = (JobCountProbe(Settings(var_dir=data_dir, database_url=None)), breakers)
    sampler = Sampler(timeline, probes, interval=SAMPLE_SECONDS)
    sampler.start()
    return sampler


def write_report(path: Path, report: DemoReport, timeline: Timeline) -> None:
    from seawall.reports.html import SummaryTable, write_html_report  # plotly loads only here

    checks = SummaryTable("Invariants and checks", [[c.name, "ok" if c.ok else "FAILED", c.detail]
                                                    for c in report.checks], columns=["check", "result", "detail"])
    figures = SummaryTable("Figures", [list(row) for row in figure_rows(report.figures)])
    verdict = "every invariant holds" if report.ok else "some checks failed"
    write_html_report(path, title=f"Seawall demo — {verdict}", timeline=timeline, tables=[checks, figures],
                      sources=SOURCES)
