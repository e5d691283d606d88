"""`seawall bench …`: figures as ratios of a ceiling measured in the same run (see docs/benchmarks.md)."""

from __future__ import annotations

import json
import logging

import structlog
import typer

app = typer.Typer(help="Benchmarks: figures as ratios of a ceiling measured in the same run.", no_args_is_help=True)

PEERS = ("pgqueuer",)


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
) -> None:
    """Job engine throughput and worker CPU per job, against the database's own commit rate and a peer."""
    import asyncpg

    from seawall.bench import jobs as job_bench  # registers the benchmark's job kind only when asked
    from seawall.bench import pgqueuer_peer

    if peer is not None and peer not in PEERS:
        raise typer.BadParameter(f"unknown peer {peer!r}; known: {', '.join(PEERS)}", param_hint="--peer")
    if (broker_url or peer) and not database_url:
        raise typer.BadParameter("--broker-url and --peer need a PostgreSQL --database-url",
                                 param_hint="--database-url")
    if peer == "pgqueuer" and not pgqueuer_peer.available():
        typer.echo(pgqueuer_peer.MISSING, err=True)
        raise typer.Exit(2)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        result = job_bench.run(jobs=jobs, workers=workers, concurrency=concurrency, database_url=database_url,
                               broker_url=broker_url, peer=peer, peer_batch_size=peer_batch_size, timeout=timeout)
    except (job_bench.BenchWorkerError, OSError, asyncpg.PostgresError) as exc:  # OSError: a server unreachable
        typer.echo(f"bench jobs failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for name, value in result.items():
            typer.echo(f"{name:>26}: {value}")
