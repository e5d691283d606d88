"""`seawall` entry point: one typer app with a command per process role and operator tool."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from seawall.cli import bench, chaos, dlq, doctor, legacy, migrate, operator_key, payments, roles, sandbox
from seawall.cli.html_option import HtmlReportOption
from seawall.config import SettingError, describe_invalid_settings
from seawall.errors import SeawallError

# A bad setting or an operator error is one line on stderr (below); anything else is a bug, and its
# plain traceback is what a bug report needs.
app = typer.Typer(help="Seawall: exactly-once backend core.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
EXIT_BAD_SETTING = 2  # as for a bad command-line option
app.command()(roles.serve)
app.command()(roles.api)
app.command()(roles.worker)
app.command()(migrate.migrate)
app.command()(doctor.doctor)
app.command()(sandbox.sandbox)
app.command()(payments.reconcile)
app.add_typer(dlq.app, name="dlq")
app.add_typer(bench.app, name="bench")
app.add_typer(chaos.app, name="chaos")
app.add_typer(operator_key.app, name="operator-key")
app.add_typer(legacy.app, name="legacy")


@app.command()
def demo(
    users: int = typer.Option(500, min=1, max=20000, help="How many paid sign-ups to drive"),
    concurrency: int = typer.Option(16, min=1, max=256, help="Concurrent client requests"),
    declined_share: float = typer.Option(0.15, min=0, max=1, help="Share of sign-ups with a declined card"),
    error_rate: float = typer.Option(0.06, min=0, max=0.5, help="Provider 500/503/429 rate"),
    hang_rate: float = typer.Option(0.01, min=0, max=0.5, help="Provider hang rate"),
    lost_response_rate: float = typer.Option(0.02, min=0, max=0.5, help="Provider lost-response rate"),
    outage_seconds: float = typer.Option(2.0, min=0, max=60, help="One provider outage mid-run (0: none)"),
    seed: int = typer.Option(7, help="Seed for the workload and the faults"),
    kills: int = typer.Option(1, min=0, max=10, help="SIGKILLs of the worker while the sign-ups' payments are "
                              "charged, each followed by a restart (0: the all-in-one `seawall serve`, no kill)"),
    no_kill: bool = typer.Option(False, "--no-kill", help="Same as --kills 0"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
    keep: bool = typer.Option(False, help="Keep the demo's data directory"),
    html: HtmlReportOption = None,
) -> None:
    """The main job: sandbox + API + worker on a fresh database, a faulty workload, the worker SIGKILLed
    mid-charging and restarted, a checked report."""
    from seawall.cli.demo import DemoOptions, run_demo

    options = DemoOptions(users=users, concurrency=concurrency, declined_share=declined_share,
                          error_rate=error_rate, hang_rate=hang_rate, lost_response_rate=lost_response_rate,
                          outage_seconds=outage_seconds, seed=seed, kills=0 if no_kill else kills, as_json=as_json,
                          keep=keep, html=html)
    raise typer.Exit(code=run_demo(options))


def main() -> None:
    try:
        app()
    except ValidationError as exc:  # a SEAWALL_* variable that does not parse
        for line in describe_invalid_settings(exc):
            typer.echo(f"seawall: {line}", err=True)
        sys.exit(EXIT_BAD_SETTING)
    except SettingError as exc:
        typer.echo(f"seawall: {exc}", err=True)
        sys.exit(EXIT_BAD_SETTING)
    except SeawallError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
