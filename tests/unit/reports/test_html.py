"""Promise: the HTML report is one self-contained page (plotly inlined, nothing loaded from the network)
with the four charts, their sources, the summary tables, and the charts' numbers as embedded JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from seawall.reports.html import CHARTS, SummaryTable, build_figures, render_html, report_data, write_html_report
from seawall.reports.timeline import BREAKER, COUNTER, LATENCY, QUEUE, Timeline

SOURCES = {chart_id: f"source of {chart_id}" for chart_id in CHARTS}


def fake_run() -> Timeline:
    """Ten seconds: 20 requests a second at 10–29 ms, a queue that builds and drains, one breaker opening."""
    timeline = Timeline(started_at=1000.0)
    for tick in range(200):
        timeline.add(LATENCY, "API requests", (10 + tick % 20) / 1000, at=1000.0 + tick * 0.05)
    for sample in range(21):
        at = 1000.0 + sample * 0.5
        timeline.add(QUEUE, "queued", 10 - abs(10 - sample), at)
        timeline.add(COUNTER, "jobs succeeded", sample * 4, at)
        timeline.add(BREAKER, "primary", 2 if 8 <= sample <= 11 else 0, at)
    timeline.add_phase("outage", 1004.0, 1006.0)
    timeline.add_phase("wrk pass", 1006.0, 1010.0, {"p50": 12.0, "p95": 20.0, "p99": 25.0})
    return timeline


def embedded_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="seawall-report-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_the_page_is_self_contained_and_has_the_four_charts_with_their_sources(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    timeline = fake_run()
    timeline.notes.append("jobs table: 1 sample(s) failed")
    write_html_report(path, title="demo <run>", timeline=timeline, sources=SOURCES,
                      tables=[SummaryTable("Figures", [["requests", "200"]], columns=["figure", "value"])])
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # plotly.js inline, not from a CDN
    assert not re.search(r"<link[^>]*\bhref=", page)
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # the bundle itself is in the file
    for chart_id, (_, title) in CHARTS.items():
        assert f'id="{chart_id}"' in page and title in page and f"source of {chart_id}" in page
    assert "<title>demo &lt;run&gt;</title>" in page and "<td>requests</td><td>200</td>" in page
    assert "jobs table: 1 sample(s) failed" in page


def test_the_embedded_numbers_are_the_charts_per_bucket_figures() -> None:
    data = embedded_data(render_html(title="t", timeline=fake_run(), tables=[], sources=SOURCES))
    assert data == json.loads(json.dumps(report_data(fake_run())))
    assert data["bucket_seconds"] == 0.5  # a ten-second run: 20 buckets
    buckets = data["latency"]["API requests"]
    assert len(buckets) == 20 and sum(b["count"] for b in buckets) == 200
    assert all(10.0 <= b["p50_ms"] <= b["p95_ms"] <= b["p99_ms"] <= 29.0 for b in buckets)
    requests = data["throughput"]["API requests completed/s"]
    assert [rate for _, rate in requests[:20]] == [20.0] * 20
    assert {rate for _, rate in data["throughput"]["jobs succeeded/s"]} == {8.0}
    assert max(n for _, n in data["queue_depth"]["queued"]) == 10
    assert [level for _, level in data["breaker"]["primary"]].count(2) == 4
    assert data["phases"][1] == {"name": "wrk pass", "start": 6.0, "end": 10.0,
                                 "percentiles_ms": {"p50": 12.0, "p95": 20.0, "p99": 25.0}}


def test_an_empty_chart_says_so_instead_of_drawing_an_empty_frame() -> None:
    timeline = Timeline(started_at=0.0)
    timeline.add(LATENCY, "requests", 0.01, at=1.0)
    figures = build_figures(report_data(timeline))

    def says_empty(chart_id: str) -> bool:
        return any(a.visible for a in figures[chart_id].layout.annotations if a.name == "empty")

    assert not says_empty("chart-latency") and not says_empty("chart-throughput")
    assert says_empty("chart-queue-depth") and says_empty("chart-breaker")
