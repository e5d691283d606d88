"""`seawall chaos`: prove the promises under fire (see `seawall.chaos`).

`seawall chaos [OPTIONS]` runs the main scenario (the callback below; `seawall.chaos.scenario`);
subcommands run the others (`seawall chaos crash-test`: the classic job-queue crash test).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Kill and restart processes (and servers) under load; check every promise after.",
                  invoke_without_command=True, add_completion=False)


@app.callback()
def chaos(
    ctx: typer.Context,
    embedded: Annotated[bool, typer.Option(help="Run on the embedded SQLite default instead of server mode")] = False,
    infra: Annotated[bool, typer.Option(help="Also restart PostgreSQL, RabbitMQ and Redis under load (private "
                                             "instances started for the run; server mode only)")] = False,
    apis: Annotated[int, typer.Option(min=1, max=16, help="`seawall api` processes")] = 2,
    workers: Annotated[int, typer.Option(min=1, max=16, help="`seawall worker` processes")] = 2,
    kills: Annotated[int, typer.Option(min=0, max=100_000, help="SIGKILLs, spread over API and worker processes")] = 20,
    duration: Annotated[float, typer.Option(min=2, max=24 * 3600, help="Seconds of load the kills are spread over")
                        ] = 30.0,
    users: Annotated[int, typer.Option(min=1, max=100_000, help="Paid sign-ups")] = 24,
    subscribers: Annotated[int, typer.Option(min=1, max=100, help="Webhook subscribers paying in rounds")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Concurrent client requests")] = 8,
    error_rate: Annotated[float, typer.Option(min=0, max=0.9, help="Provider 500/503/429 rate")] = 0.2,
    lost_response_rate: Annotated[float, typer.Option(min=0, max=0.5, help="Provider lost-response rate")] = 0.02,
    crash_points: Annotated[str, typer.Option(help="SEAWALL_CRASH_POINTS for the workers, e.g. '*=0.02'")] = "",
    lease_seconds: Annotated[float, typer.Option(min=0.5, max=600, help="SEAWALL_JOB_LEASE_SECONDS of the run")
                             ] = 3.0,
    settle_timeout: Annotated[float, typer.Option(min=1, max=24 * 3600, help="Seconds to wait for the system to "
                                                                             "be quiet after the load")] = 240.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the workload, faults and schedule (printed; default "
                                                  "random)")] = None,
    database_url: Annotated[str, typer.Option(help="PostgreSQL server for a scratch database (server mode)")
                            ] = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    redis_url: Annotated[str, typer.Option(help="Redis (server mode; keys under a scratch prefix)")
                         ] = "redis://127.0.0.1:6379/0",
    broker_url: Annotated[str, typer.Option(help="RabbitMQ (server mode; a scratch vhost)")
                          ] = "amqp://guest:guest@127.0.0.1:5672/",
    keep: Annotated[bool, typer.Option(help="Keep the run's directory (logs, SQLite file) even when it passes")
                    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """The main scenario: N API processes, M workers, the faulty sandbox, a paid workload, random SIGKILLs.

    Exit 0 when every promise held; 1 on any violation (or when the run itself broke)."""
    if ctx.invoked_subcommand is not None:
        return
    if embedded and infra:
        raise typer.BadParameter("--infra restarts the servers of server mode; it cannot go with --embedded")
    from rich.console import Console

    from seawall.chaos.report import print_report
    from seawall.chaos.scenario import ChaosOptions, print_seed, run_chaos

    options = ChaosOptions(embedded=embedded, infra=infra, apis=apis, workers=workers, kills=kills, duration=duration,
                           users=users, subscribers=subscribers, concurrency=concurrency, error_rate=error_rate,
                           lost_response_rate=lost_response_rate, crash_points=crash_points,
                           lease_seconds=lease_seconds, settle_timeout=settle_timeout, seed=seed,
                           database_url=database_url, redis_url=redis_url, broker_url=broker_url, keep=keep)
    if crash_points:
        from seawall.chaos.crash_points import parse

        try:
            parse(crash_points)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--crash-points") from None
    report = run_chaos(options, announce=print_seed)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print_report(Console(), report)
    raise typer.Exit(code=0 if report.ok else 1)


# Subcommands register below (one line each; their code lives in their own modules).
from seawall.cli import chaos_crash_test as chaos_crash_test  # noqa: E402,F401  (registers crash-test)
