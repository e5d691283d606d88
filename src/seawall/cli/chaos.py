"""`seawall chaos`: prove the promises under fire (see `seawall.chaos`).

`seawall chaos [OPTIONS]` runs the main scenario (the callback below); subcommands run the others
(`seawall chaos crash-test`: the classic job-queue crash test).
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Kill and restart processes (and servers) under load; check every promise after.",
                  invoke_without_command=True, add_completion=False)


@app.callback()
def chaos(ctx: typer.Context) -> None:
    """The main scenario: N API processes, M workers, the faulty sandbox, a paid workload, random SIGKILLs."""
    if ctx.invoked_subcommand is not None:
        return
    typer.echo("seawall chaos: the main scenario is not built yet", err=True)
    raise typer.Exit(code=2)


# Subcommands register below (one line each; their code lives in their own modules).
from seawall.cli import chaos_crash_test as chaos_crash_test  # noqa: E402,F401  (registers crash-test)
