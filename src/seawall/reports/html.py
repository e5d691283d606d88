"""One self-contained HTML page for a run: summary tables and four charts over time.

The page opens offline: plotly.js is inlined once (`include_plotlyjs=True`, about 4.7 MB) and no
element loads anything from the network. The charts, each a `<div>` with a fixed id:
- `chart-latency`: p50/p95/p99 in ms of each `LATENCY` series per time bucket (operations that
  completed in it), plus dashed whole-window percentiles of phases that carry them (wrk passes);
- `chart-queue-depth`: jobs queued, running and dead, as sampled;
- `chart-breaker`: each payment route's breaker state, as sampled (closed, half-open, open);
- `chart-throughput`: completions per second of each `LATENCY` series per bucket, and the rate of
  each `COUNTER` series (jobs succeeded/s, jobs enqueued/s) between consecutive samples.
x is seconds since the run started; phases are shaded on every chart. Under each chart, its
`sources` sentence says where the numbers come from; an empty chart says so on its face.

The figures behind the charts are also embedded as JSON in `<script type="application/json"
id="seawall-report-data">` (`report_data`), for people and tests that want the numbers.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seawall.reports.timeline import (
    BREAKER,
    BREAKER_LEVELS,
    COUNTER,
    LATENCY,
    QUEUE,
    Timeline,
    bucket_seconds_for,
    counter_rate,
    events_per_second,
    latency_percentiles,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

CHARTS = {  # chart id → (kind of data, title)
    "chart-latency": (LATENCY, "Latency percentiles over time"),
    "chart-queue-depth": (QUEUE, "Queue depth over time"),
    "chart-breaker": (BREAKER, "Breaker state over time"),
    "chart-throughput": ("throughput", "Throughput over time"),
}
PHASE_COLOURS = ("rgba(99,110,250,0.07)", "rgba(239,85,59,0.07)", "rgba(0,204,150,0.07)", "rgba(171,99,250,0.07)")


@dataclass(frozen=True)
class SummaryTable:
    """A table of the figures the terminal report prints: `columns` (may be empty: no header) and rows."""

    title: str
    rows: list[list[str]]
    columns: list[str] | None = None


def report_data(timeline: Timeline) -> dict[str, Any]:
    """The charts' numbers: {"started_at", "bucket_seconds", "latency": {series: [bucket, ...]},
    "queue_depth": {state: [[t, n], ...]}, "breaker": {route: [[t, level], ...]},
    "throughput": {name: [[t, per second], ...]}, "phases": [...]}; t in seconds since the start."""
    origin, end = timeline.started_at, timeline.ended_at
    bucket = bucket_seconds_for(end - origin)

    def relative(rows: list[tuple[float, float]]) -> list[list[float]]:
        return [[round(at - origin, 3), value] for at, value in rows]

    latencies = timeline.of_kind(LATENCY)
    throughput = {f"{name} completed/s": [list(row) for row in events_per_second(
        rows, origin=origin, end=end, bucket_seconds=bucket)] for name, rows in latencies.items()}
    throughput.update({f"{name}/s": [list(row) for row in counter_rate(rows, origin=origin)]
                       for name, rows in timeline.of_kind(COUNTER).items()})
    return {
        "started_at": origin,
        "bucket_seconds": bucket,
        "latency": {name: [b.__dict__ for b in latency_percentiles(rows, origin=origin, bucket_seconds=bucket)]
                    for name, rows in latencies.items()},
        "queue_depth": {name: relative(rows) for name, rows in timeline.of_kind(QUEUE).items()},
        "breaker": {name: relative(rows) for name, rows in timeline.of_kind(BREAKER).items()},
        "throughput": throughput,
        "phases": [{"name": p.name, "start": round(p.start - origin, 3), "end": round(p.end - origin, 3),
                    "percentiles_ms": p.percentiles_ms} for p in timeline.phases],
    }


def _figure(title: str, y_title: str, data: dict[str, Any], empty_reason: str) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.update_layout(title=title, xaxis_title="seconds since the run started", yaxis_title=y_title,
                         template="plotly_white", height=420, margin={"t": 60, "b": 50},
                         legend={"orientation": "h", "y": -0.2})
    for index, phase in enumerate(data["phases"]):
        figure.add_vrect(x0=phase["start"], x1=phase["end"], fillcolor=PHASE_COLOURS[index % len(PHASE_COLOURS)],
                         line_width=0, annotation_text=phase["name"], annotation_position="top left")
    figure.add_annotation(text=empty_reason, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                          visible=False, name="empty")
    return figure


def _mark_if_empty(figure: go.Figure) -> go.Figure:
    if not figure.data:
        figure.update_annotations(selector={"name": "empty"}, visible=True)
    return figure


def build_figures(data: dict[str, Any]) -> dict[str, go.Figure]:
    """Chart id → figure, from `report_data`'s numbers."""
    import plotly.graph_objects as go

    bucket = data["bucket_seconds"]
    empty = "nothing was sampled here: see the note under the chart"
    latency = _figure(CHARTS["chart-latency"][1] + f" (per {bucket:g} s bucket)", "ms", data, empty)
    for name, buckets in data["latency"].items():
        for quantile, dash in (("p50", "solid"), ("p95", "dash"), ("p99", "dot")):
            latency.add_trace(go.Scatter(x=[b["t"] for b in buckets], y=[b[f"{quantile}_ms"] for b in buckets],
                                         name=f"{name} {quantile}", mode="lines+markers", line={"dash": dash},
                                         legendgroup=name))
    for phase in data["phases"]:
        for quantile, figure_ms in (phase["percentiles_ms"] or {}).items():
            latency.add_trace(go.Scatter(x=[phase["start"], phase["end"]], y=[figure_ms, figure_ms], mode="lines",
                                         name=f"{phase['name']} {quantile} (whole pass)", line={"dash": "dash"}))
    queue = _figure(CHARTS["chart-queue-depth"][1], "jobs", data, empty)
    for state, rows in data["queue_depth"].items():
        queue.add_trace(go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows], name=state,
                                   mode="lines+markers", line_shape="hv"))
    breaker = _figure(CHARTS["chart-breaker"][1], "state", data, empty)
    breaker.update_yaxes(tickvals=list(BREAKER_LEVELS.values()), ticktext=list(BREAKER_LEVELS),
                         range=[-0.3, max(BREAKER_LEVELS.values()) + 0.3])
    for route, rows in data["breaker"].items():
        breaker.add_trace(go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows], name=route,
                                     mode="lines+markers", line_shape="hv"))
    throughput = _figure(CHARTS["chart-throughput"][1], "per second", data, empty)
    for name, rows in data["throughput"].items():
        throughput.add_trace(go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows], name=name,
                                        mode="lines+markers"))
    figures = {"chart-latency": latency, "chart-queue-depth": queue, "chart-breaker": breaker,
               "chart-throughput": throughput}
    return {chart_id: _mark_if_empty(figure) for chart_id, figure in figures.items()}


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
p.source { font-size: 0.85em; color: #555; margin: 0 0 2em; }
"""


def _table_html(table: SummaryTable) -> str:
    head = ("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in table.columns) + "</tr>") if table.columns else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
                   for row in table.rows)
    return f"<h2>{html.escape(table.title)}</h2><table>{head}{body}</table>"


def render_html(*, title: str, timeline: Timeline, tables: list[SummaryTable], sources: dict[str, str]) -> str:
    """The whole page. `sources`: chart id (`CHARTS`) → where its numbers come from; the timeline's
    `notes` (what was not sampled, probes that failed) are listed under the title."""
    data = report_data(timeline)
    figures = build_figures(data)
    charts = []
    for index, (chart_id, figure) in enumerate(figures.items()):
        div = figure.to_html(full_html=False, include_plotlyjs=index == 0, div_id=chart_id,
                             config={"displaylogo": False, "responsive": True})
        charts.append(f'{div}<p class="source">{html.escape(sources.get(chart_id, ""))}</p>')
    note_items = "".join(f"<li>{html.escape(note)}</li>" for note in timeline.notes)
    data_json = json.dumps(data).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>" + (f"<ul>{note_items}</ul>" if note_items else "")
        + "".join(_table_html(table) for table in tables) + "".join(charts)
        + f'<script type="application/json" id="seawall-report-data">{data_json}</script>'
        "</body></html>\n"
    )


def write_html_report(path: Path, *, title: str, timeline: Timeline, tables: list[SummaryTable],
                      sources: dict[str, str]) -> None:
    """Write `render_html(...)` to `path` (UTF-8), replacing it."""
    path.write_text(render_html(title=title, timeline=timeline, tables=tables, sources=sources), encoding="utf-8")
