"""`seawall bench …`: figures as ratios of a ceiling measured in the same run (see docs/benchmarks.md)."""

from __future__ import annotations

import json
import logging

import structlog
import typer

app = typer.Typer(help="Benchmarks: figures as ratios of a ceiling measured in the same run.", no_args_is_help=True)


@app.command("jobs")
def bench_jobs(
    jobs: int = typer.Option(2000, min=10, max=200_000, help="How many no-op jobs to run"),
    concurrency: int = typer.Option(16, min=1, max=256, help="Worker concurrency"),
    database_url: str | None = typer.Option(None, help="A PostgreSQL URL (default: a fresh embedded SQLite file)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Job engine throughput against the database's own commit rate for the same transactions."""
    from seawall.bench import jobs as job_bench  # registers the benchmark's job kind only when asked

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    result = job_bench.run(jobs=jobs, concurrency=concurrency, database_url=database_url)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for name, value in result.items():
            typer.echo(f"{name:>26}: {value}")
