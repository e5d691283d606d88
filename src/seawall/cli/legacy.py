"""`seawall legacy report|check-routes`: the legacy bridge's shadow comparisons and its route table file
(docs/legacy-bridge.md, "Report")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.runner import run_with_runtime
from seawall.legacy import routes as legacy_routes
from seawall.legacy import store
from seawall.legacy.routes import RouteTableError
from seawall.runtime import Runtime

app = typer.Typer(help="The legacy bridge: shadow comparisons and the route table.", no_args_is_help=True)
console = Console()
EXIT_REFUSED = 1


@app.command()
def report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    route: Annotated[str | None, typer.Option("--route", help="Only this route (its name, e.g. 'POST /v1/x')")]
    = None,
    hours: Annotated[float, typer.Option("--hours", min=0.001, max=24 * 366, help="The window, hours back")] = 24.0,
    recent: Annotated[int, typer.Option("--recent", min=0, max=100, help="Disagreements shown per route")] = 5,
) -> None:
    """Per shadowed route: comparisons by result, the agreement rate, and the latest disagreements."""

    async def run(runtime: Runtime) -> list[store.RouteReport]:
        return await store.report(runtime.database, now=runtime.clock.now(), hours=hours, route=route, recent=recent)

    reports = run_with_runtime(run)
    if as_json:
        typer.echo(json.dumps({"hours": hours, "routes": [entry.as_json() for entry in reports]}))
        return
    if not reports:
        console.print(f"no shadow comparisons in the last {hours:g} h")
        return
    table = Table("route", "agreement", "agreed", "status differs", "body differs", "not compared",
                  "seawall error", "dropped")
    for entry in reports:
        rate = "-" if entry.agreement_rate is None else f"{entry.agreement_rate:.1%}"
        counts = entry.counts
        table.add_row(entry.route, rate, *(str(counts.get(kind, 0)) for kind in (
            "agreed", "status_differs", "body_differs", "not_compared", "seawall_error", "dropped")))
    console.print(table)
    for entry in reports:
        for disagreement in entry.recent_disagreements:
            console.print(f"[bold]{entry.route}[/bold] {disagreement['at']} {disagreement['method']} "
                          f"{disagreement['path']}: {disagreement['result']} (legacy {disagreement['legacy_status']}, "
                          f"seawall {disagreement['seawall_status']})"
                          + (f" {disagreement['note']}" if disagreement["note"] else ""))
            if disagreement["patch"]:
                console.print_json(data=disagreement["patch"])


@app.command("check-routes")
def check_routes(file: Annotated[Path, typer.Argument(help="A route table (TOML)")]) -> None:
    """Parse a route table as the bridge would; print its routes, or the problem (exit 1)."""
    try:
        table = legacy_routes.load_table(file)
    except (RouteTableError, OSError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    table_out = Table("name", "mode", "side effects", "sample", "ignore")
    for entry in table.routes:
        table_out.add_row(entry.name, entry.mode.value, entry.side_effects.value if entry.mode == "shadow" else "",
                          f"{entry.sample:g}" if entry.mode == "shadow" else "", ", ".join(entry.ignore))
    console.print(table_out)
    typer.echo(f"{file}: {len(table.routes)} route(s), usable")
