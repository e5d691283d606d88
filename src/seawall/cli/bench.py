"""`seawall bench …`: figures as ratios of a ceiling measured in the same run (see docs/benchmarks.md)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import typer

from seawall.cli.html_option import HtmlReportOption

if TYPE_CHECKING:
    from seawall.reports.html import SummaryTable
    from seawall.reports.timeline import Timeline

app = typer.Typer(help="Benchmarks: figures as ratios of a ceiling measured in the same run.", no_args_is_help=True)

PEERS = ("pgqueuer",)


def _new_timeline(html: Path | None) -> Timeline | None:
    """A timeline to record the run into only when an HTML report was asked for (else nothing is sampled)."""
    from seawall.reports.timeline import Timeline

    return Timeline() if html is not None else None


def _write_html(path: Path, *, title: str, timeline: Timeline | None, tables: list[SummaryTable],
                sources: dict[str, str]) -> None:
    from seawall.reports.html import write_html_report
    from seawall.reports.timeline import Timeline

    write_html_report(path, title=title, timeline=timeline or Timeline(), tables=tables, sources=sources)
    typer.echo(f"HTML report: {path}", err=True)  # stderr: --json keeps its one object on the last stdout line


def _figure_table(title: str, figures: dict[str, Any]) -> SummaryTable:
    from seawall.reports.html import SummaryTable

    return SummaryTable(title, [[name, json.dumps(value) if isinstance(value, dict | list) else str(value)]
                                for name, value in figures.items()], columns=["figure", "value"])


@app.command("jobs")
def bench_jobs(
    jobs: int = typer.Option(2000, min=10, max=200_000, help="How many no-op jobs to run"),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes"),
    concurrency: int = typer.Option(16, min=1, max=256, help="Concurrent jobs per worker process"),
    database_url: str | None = typer.Option(
        None, help="A PostgreSQL server URL; each run makes a fresh database on it (default: a fresh SQLite file)"),
    broker_url: str | None = typer.Option(
        None, help="amqp:// URL: workers use the RabbitMQ transport, in a fresh vhost (needs --database-url)"),
    peer: str | None = typer.Option(None, help="Also run a peer on the same server: pgqueuer (needs --database-url)"),
    peer_batch_size: int = typer.Option(10, min=1, max=10_000, help="The peer's dequeue batch size"),
    timeout: float = typer.Option(600.0, min=1.0, help="Seconds each side may take to run its jobs"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on the last line"),
    html: HtmlReportOption = None,
) -> None:
    """Job engine throughput and worker CPU per job, against the database's own commit rate and a peer."""
    import asyncpg

    from seawall.bench import jobs as job_bench  # registers the benchmark's job kind only when asked
    from seawall.bench import pgqueuer_peer
    from seawall.bench.databases import postgres_server_url

    if peer is not None and peer not in PEERS:
        raise typer.BadParameter(f"unknown peer {peer!r}; known: {', '.join(PEERS)}", param_hint="--peer")
    if (broker_url or peer) and not database_url:
        raise typer.BadParameter("--broker-url and --peer need a PostgreSQL --database-url",
                                 param_hint="--database-url")
    if database_url is not None:
        try:
            database_url = postgres_server_url(database_url)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--database-url") from None
    if peer == "pgqueuer" and not pgqueuer_peer.available():
        typer.echo(pgqueuer_peer.MISSING, err=True)
        raise typer.Exit(2)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    timeline = _new_timeline(html)
    try:
        result = job_bench.run(jobs=jobs, workers=workers, concurrency=concurrency, database_url=database_url,
                               broker_url=broker_url, peer=peer, peer_batch_size=peer_batch_size, timeout=timeout,
                               timeline=timeline)
    except (job_bench.BenchWorkerError, OSError, asyncpg.PostgresError) as exc:  # OSError: a server unreachable
        typer.echo(f"bench jobs failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if html is not None:
        _write_html(html, title=f"seawall bench jobs — {jobs} jobs, {result['database']}, {result['transport']}",
                    timeline=timeline, tables=[_figure_table("Figures", result)], sources=job_bench.REPORT_SOURCES)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for name, value in result.items():
            typer.echo(f"{name:>26}: {value}")


@app.command("write")
def bench_write(
    api_workers: int = typer.Option(2, min=1, max=64, help="Processes of `seawall api` (and of the naive peer)"),
    concurrency: int = typer.Option(32, min=1, max=1024, help="Client connections (and ceiling connections)"),
    duration: float = typer.Option(10.0, min=1, max=600, help="Measured seconds of each pass"),
    warmup: float = typer.Option(2.0, min=0, max=60, help="Unmeasured seconds before each closed-loop pass"),
    database_url: str | None = typer.Option(
        None, help="A PostgreSQL server URL: a fresh database is made on it and dropped (default: embedded file)"),
    load_generator: str = typer.Option("auto", help="auto (wrk when on PATH), wrk or python"),
    seawall_python: str | None = typer.Option(
        None, help="The Python of another Seawall install to measure (a build before a change), in this sitting"),
    metrics_cost: bool = typer.Option(
        False, "--metrics-cost", help="Instead: Seawall alone with metrics off and on, alternated, and the ratio "
        "of their CPU per request (tracing off in both)"),
    rounds: int = typer.Option(2, min=1, max=20, help="With --metrics-cost: passes of each arm"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on the last line"),
    html: HtmlReportOption = None,
) -> None:
    """POST /v1/payments: Seawall against a naive FastAPI peer and the database's ceiling, in one run."""
    import asyncpg

    from seawall.bench import metrics_cost as metrics_cost_bench
    from seawall.bench.databases import postgres_server_url
    from seawall.bench.write import WriteBenchOptions
    from seawall.bench.write import run as run_write

    if load_generator not in ("auto", "wrk", "python"):
        raise typer.BadParameter("auto, wrk or python", param_hint="--load-generator")
    if database_url is not None:
        try:
            database_url = postgres_server_url(database_url)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--database-url") from None
    if seawall_python is not None and not shutil.which(seawall_python):
        raise typer.BadParameter(f"{seawall_python} is not an executable", param_hint="--seawall-python")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    options = WriteBenchOptions(
        api_workers=api_workers, concurrency=concurrency, duration=duration, warmup=warmup,
        database_url=database_url, load_generator=load_generator,
        **({"seawall_python": seawall_python} if seawall_python else {}))
    timeline = _new_timeline(html)
    try:
        report = (metrics_cost_bench.run(options, rounds=rounds, timeline=timeline) if metrics_cost
                  else run_write(options, timeline=timeline))
    except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as exc:
        # OSError: a server unreachable; RuntimeError: Seawall or the peer did not start (with its log's tail)
        typer.echo(f"bench write failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report))
    elif metrics_cost:
        _print_metrics_cost_report(report)
    else:
        _print_write_report(report)
    if html is not None:
        from seawall.bench.write import REPORT_SOURCES
        from seawall.reports.html import SummaryTable

        title, columns, rows, caption = _metrics_cost_table(report) if metrics_cost else _write_table(report)
        footer = [[caption]] if metrics_cost else [[caption], [_write_ratios(report)]]
        _write_html(html, title=f"seawall bench write — {title}", timeline=timeline, sources=REPORT_SOURCES,
                    tables=[SummaryTable(title, [*rows, *footer], columns=columns),
                            _figure_table("Configuration", report["config"])])


WRITE_COLUMNS = ("", "requests/s", "p50 ms", "p95 ms", "p99 ms", "CPU ms/request", "client CPU ms/request",
                 "max RSS MB", "non-2xx")


def _write_table(report: dict[str, Any]) -> tuple[str, list[str], list[list[str]], str]:
    """`bench write`'s figures as the terminal shows them: (title, columns, rows, caption)."""
    config = report["config"]
    title = (f"POST /v1/payments · {config['database']} · {config['api_workers']} process(es) · "
             f"{config['concurrency']} connections · {config['duration_seconds']:g} s · {config['load_generator']}")
    half = report["half_rate"]
    caption = (f"half rate: open loop at {half['target_requests_per_second']:g} requests/s, latency from "
               f"each request's due time; ceiling: {config['ceiling_driver']}, CPU of the driver's process")
    rows = [[name, *(_cell(figures[key]) for key in (
        "requests_per_second", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request", "client_cpu_ms_per_request",
        "max_rss_mb", "non_2xx"))]
        for name, figures in (("seawall", report["seawall"]), ("naive peer", report["peer"]),
                              ("ceiling", report["ceiling"]), ("seawall, half rate", half))]
    return title, list(WRITE_COLUMNS), rows, caption


def _write_ratios(report: dict[str, Any]) -> str:
    ratios = report["ratios"]
    return (f"seawall/peer {_cell(ratios['seawall_to_peer'])} · "
            f"seawall/ceiling {_cell(ratios['seawall_to_ceiling'])} (requests/s)")


def _metrics_cost_table(report: dict[str, Any]) -> tuple[str, list[str], list[list[str]], str]:
    """`bench write --metrics-cost`'s figures as the terminal shows them: (title, columns, rows, caption)."""
    config = report["config"]
    title = (f"Metrics cost · POST /v1/payments · {config['database']} · {config['api_workers']} "
             f"process(es) · {config['concurrency']} connections · {config['duration_seconds']:g} s "
             f"per pass · tracing off")
    columns = ["arm", "round", "requests/s", "p50 ms", "p99 ms", "CPU ms/request", "non-2xx"]
    rows = [[row["arm"], str(row["round"]), *(_cell(row[key]) for key in (
        "requests_per_second", "p50_ms", "p99_ms", "cpu_ms_per_request", "non_2xx"))] for row in report["passes"]]
    means = report["cpu_ms_per_request"]
    verdict = "within" if report["within_budget"] else "OVER"
    caption = (f"CPU ms/request, mean: off {means['metrics_off']} · on {means['metrics_on']} · on/off "
               f"{report['metrics_on_to_off']} ({verdict} the {report['budget_ratio']} budget)")
    return title, columns, rows, caption


def _print_metrics_cost_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title, columns, rows, caption = _metrics_cost_table(report)
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column, justify="left" if column == "arm" else "right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _print_write_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title, columns, rows, caption = _write_table(report)
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column, justify="left" if not column else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console.width = 120
    console.print(table)
    console.print(_write_ratios(report))


def _cell(value: Any) -> str:
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@app.command("legacy")
def bench_legacy(
    api_workers: int = typer.Option(1, min=1, max=64, help="Processes of `seawall api` (and of the naive proxy)"),
    concurrency: int = typer.Option(32, min=1, max=1024, help="Client connections"),
    duration: float = typer.Option(8.0, min=1, max=600, help="Measured seconds of each pass"),
    warmup: float = typer.Option(2.0, min=0, max=60, help="Unmeasured seconds before each pass"),
    body_bytes: int = typer.Option(1024, min=16, max=1024 * 1024, help="Size of each request's JSON body"),
    load_generator: str = typer.Option("auto", help="auto (wrk when on PATH), wrk or python"),
    seawall_python: str | None = typer.Option(
        None, help="The Python of another Seawall install to measure (a build before a change), in this sitting"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on the last line"),
) -> None:
    """The legacy bridge: a forwarded POST through Seawall against a naive Python proxy and the upstream alone."""
    from seawall.bench.legacy import LegacyBenchOptions
    from seawall.bench.legacy import run as run_legacy

    if load_generator not in ("auto", "wrk", "python"):
        raise typer.BadParameter("auto, wrk or python", param_hint="--load-generator")
    if seawall_python is not None and not shutil.which(seawall_python):
        raise typer.BadParameter(f"{seawall_python} is not an executable", param_hint="--seawall-python")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    options = LegacyBenchOptions(api_workers=api_workers, concurrency=concurrency, duration=duration, warmup=warmup,
                                 body_bytes=body_bytes, load_generator=load_generator,
                                 **({"seawall_python": seawall_python} if seawall_python else {}))
    try:
        report = run_legacy(options)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        typer.echo(f"bench legacy failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    config = report["config"]
    table = Table(title=(f"POST (forwarded) · {config['body_bytes']} B body · {config['api_workers']} process(es) · "
                         f"{config['concurrency']} connections · {config['duration_seconds']:g} s · "
                         f"{config['load_generator']}"))
    columns = ("requests_per_second", "p50_ms", "p99_ms", "cpu_ms_per_request", "upstream_cpu_ms_per_request",
               "max_rss_mb", "non_2xx", "errors")
    table.add_column("")
    for column in ("requests/s", "p50 ms", "p99 ms", "CPU ms/request", "upstream CPU ms/request", "max RSS MB",
                   "non-2xx", "errors"):
        table.add_column(column, justify="right")
    for name, label in (("seawall", "seawall bridge"), ("peer", "naive proxy"), ("ceiling", "upstream alone")):
        table.add_row(label, *(_cell(report[name][key]) for key in columns))
    Console().print(table)
    ratios = report["ratios"]
    typer.echo(f"seawall/peer: CPU per request {_cell(ratios['seawall_to_peer_cpu_per_request'])} · "
               f"requests/s {_cell(ratios['seawall_to_peer_requests_per_second'])}")


@app.command("pipeline")
def bench_pipeline(
    signups: int = typer.Option(300, min=1, max=20_000, help="Paid sign-ups to send"),
    concurrency: int = typer.Option(16, min=1, max=256, help="Requests in flight at once"),
    webhook_payments: int | None = typer.Option(
        None, min=0, max=20_000, help="Webhook subscribers' payments among them (default: one per four sign-ups)"),
    database_url: str | None = typer.Option(
        None, help="A PostgreSQL URL: a fresh database on its server per run (default: an embedded SQLite file)"),
    rate: float | None = typer.Option(
        None, min=0.1, max=10_000, help="Open loop: start this many sign-ups per second (default: closed loop)"),
    workers: int = typer.Option(
        0, min=0, max=16, help="PostgreSQL only: `seawall api` and this many `seawall worker` processes "
                               "(default 0: one `seawall serve`)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (the last stdout line)"),
    html: HtmlReportOption = None,
) -> None:
    """The whole paid path end to end (API → charge → emails → webhook), faults off: throughput,
    latencies from each request to its effects, server CPU and RSS, and an exactly-once check."""
    import asyncpg
    from rich.console import Console

    from seawall.bench import pipeline
    from seawall.bench.pipeline_report import print_report, report_title, summary_rows

    if database_url is not None and not database_url.startswith("postgresql"):
        raise typer.BadParameter("a PostgreSQL URL (postgresql://… or postgresql+asyncpg://…); "
                                 "leave it out for the embedded SQLite file", param_hint="--database-url")
    if workers and database_url is None:
        raise typer.BadParameter("separate worker processes need a shared server database: give --database-url",
                                 param_hint="--workers")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    options = pipeline.PipelineOptions(signups=signups, concurrency=concurrency, webhook_payments=webhook_payments,
                                       database_url=database_url, rate=rate, workers=workers)
    timeline = _new_timeline(html)
    try:
        result = pipeline.run(options, timeline=timeline)
    except (RuntimeError, OSError, asyncpg.PostgresError) as exc:  # a process that did not start, a server unreachable
        typer.echo(f"bench pipeline failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        print_report(Console(), result)
    if html is not None:
        from seawall.reports.html import SummaryTable

        checks = SummaryTable("Exactly once (providers' records)",
                              [[c["name"], "ok" if c["ok"] else "FAILED", c["detail"]] for c in result["checks"]],
                              columns=["check", "result", "detail"])
        _write_html(html, title=report_title(result), timeline=timeline, sources=pipeline.REPORT_SOURCES,
                    tables=[SummaryTable("Figures", [list(row) for row in summary_rows(result)]), checks])
    if not result["ok"]:
        raise typer.Exit(code=1)
