"""`seawall` entry point: one typer app with a command per process role and operator tool."""

from __future__ import annotations

import sys

import typer

from seawall.cli import dlq, doctor, payments, roles
from seawall.errors import SeawallError
from seawall.sandbox.cli import sandbox

app = typer.Typer(help="Seawall: exactly-once backend core.", no_args_is_help=True, add_completion=False)
app.command()(roles.serve)
app.command()(roles.api)
app.command()(roles.worker)
app.command()(roles.migrate)
app.command()(doctor.doctor)
app.command()(sandbox)
app.command()(payments.reconcile)
app.add_typer(dlq.app, name="dlq")


@app.command()
def demo(
    users: int = typer.Option(5, min=1, max=1000, help="How many users to sign up"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
    keep: bool = typer.Option(False, help="Keep the demo's data directory"),
) -> None:
    """Start the all-in-one server on a fresh database and drive the core flows against it."""
    from seawall.cli.demo import run_demo

    raise typer.Exit(code=run_demo(users=users, as_json=as_json, keep=keep))


def main() -> None:
    try:
        app()
    except SeawallError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
