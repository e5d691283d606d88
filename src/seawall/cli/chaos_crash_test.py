"""`seawall chaos crash-test`: the classic job-queue crash test (see `seawall.chaos.crash_test`).

Prints the seed first (stderr), then a table, or with `--json` one JSON object on the last stdout
line. Exit 0 when no row was lost or duplicated and every job finished; 1 otherwise; 2 for a bad
option.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import TYPE_CHECKING

import structlog
import typer

from seawall.cli.chaos import app

if TYPE_CHECKING:
    from seawall.chaos.crash_test import CrashTestReport

# The scenario (and its job kind) is imported only when the command runs: other `seawall` commands
# never register the crash test's kind.
BACKENDS = ("sqlite", "postgres", "rabbitmq")
MAX_KILLS = 50


def _kill_points(kill_at: str | None, kills: int | None, seed: int) -> tuple[float, ...]:
    from seawall.chaos.crash_test import DEFAULT_KILL_AT, random_kill_points

    if kill_at is not None and kills is not None:
        raise typer.BadParameter("give --kill-at or --kills, not both", param_hint="--kills")
    if kills is not None:
        return random_kill_points(kills, seed)
    if kill_at is None:
        return DEFAULT_KILL_AT
    try:
        points = tuple(float(part) / 100 for part in kill_at.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter("percentages separated by commas, e.g. 20,45,70", param_hint="--kill-at") from None
    if not points or len(points) > MAX_KILLS or any(not 0 < point < 1 for point in points) \
            or len(set(points)) != len(points):
        raise typer.BadParameter(f"1 to {MAX_KILLS} distinct percentages, each strictly between 0 and 100",
                                 param_hint="--kill-at")
    return points


def _print_table(report: CrashTestReport) -> None:
    progress = ", ".join(f"{100 * point:.1f} %" for point in report.kill_progress) or "none"
    rows = [
        ("backend", report.backend), ("jobs", report.jobs), ("seed", report.seed),
        ("kill points", ", ".join(f"{100 * point:g} %" for point in report.kill_at)),
        ("kills (SIGKILL)", report.kills), ("killed at progress", progress), ("restarts", report.restarts),
        ("lease", f"{report.lease_seconds:g} s"), ("worker slots", report.concurrency),
        ("time", f"{report.seconds:.1f} s"), ("rows inserted", report.rows),
        ("attempts cut short by a kill", report.interrupted), ("jobs re-run", report.reruns),
        ("lost rows", report.lost),
        ("duplicated rows", report.duplicated), ("jobs unfinished (stranded)", report.unfinished),
        ("jobs dead-lettered", report.dead), ("verdict", "PASS" if report.ok else "FAIL"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        typer.echo(f"{name:>{width}}  {value}")


@app.command("crash-test")
def crash_test(
    backend: str = typer.Option("sqlite", help=f"One of {', '.join(BACKENDS)} (rabbitmq: PostgreSQL + RabbitMQ)"),
    jobs: int = typer.Option(2000, min=10, max=200_000, help="How many jobs"),
    kill_at: str | None = typer.Option(
        None, help="Distinct progress (%) at which the worker is SIGKILLed, comma separated (default 20,45,70)"),
    kills: int | None = typer.Option(None, min=1, max=MAX_KILLS,
                                     help="Instead of --kill-at: this many kill points drawn with the seed"),
    seed: int | None = typer.Option(None, help="Seed of the kill instants (default: random, printed)"),
    lease_seconds: float = typer.Option(2.0, min=0.5, max=60.0, help="The job lease for the run"),
    concurrency: int = typer.Option(10, min=1, max=256, help="The worker's job slots"),
    wait_ms: int = typer.Option(10, min=0, max=1000, help="Each job's wait before and after its INSERT"),
    database_url: str = typer.Option(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        help="postgres/rabbitmq: the PostgreSQL server; a scratch database is made on it and dropped"),
    broker_url: str = typer.Option(
        "amqp://guest:guest@127.0.0.1:5672/", help="rabbitmq: the broker; a scratch vhost is made on it and deleted"),
    timeout: float = typer.Option(600.0, min=5.0, help="Seconds the run may take; jobs left then are stranded"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on the last line"),
) -> None:
    """The classic job-queue crash test: jobs INSERT into a table with no unique key while the worker is
    SIGKILLed and restarted; lost and duplicated rows are counted."""
    import asyncpg

    from seawall.chaos.crash_test import CrashTestError, CrashTestOptions, run

    if backend not in BACKENDS:
        raise typer.BadParameter(f"one of {', '.join(BACKENDS)}", param_hint="--backend")
    seed = seed if seed is not None else secrets.randbelow(2**31)
    points = _kill_points(kill_at, kills, seed)
    if backend != "sqlite":
        from seawall.bench.databases import postgres_server_url

        try:
            postgres_server_url(database_url)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--database-url") from None
    typer.echo(f"crash test: seed {seed} (replay with --seed {seed})", err=True)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    options = CrashTestOptions(backend=backend, jobs=jobs, kill_at=points, seed=seed, lease_seconds=lease_seconds,
                               concurrency=concurrency, wait_ms=wait_ms, database_url=database_url,
                               broker_url=broker_url, timeout=timeout)
    try:
        report = run(options)
    except (CrashTestError, OSError, asyncpg.PostgresError) as exc:  # OSError: a server unreachable
        typer.echo(f"crash test failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        _print_table(report)
    raise typer.Exit(0 if report.ok else 1)
