"""`seawall doctor`: which backends are configured, are they reachable, is the schema current."""

from __future__ import annotations

import json
from typing import Any

import typer

from seawall.cli.runner import run_with_runtime
from seawall.db import head_revision
from seawall.jobs import repository as jobs_repository
from seawall.payments.ledger import check_ledger
from seawall.runtime import Runtime


def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Check the database, the job queue and the ledger (balanced, agrees with payments); exit 1 on a problem."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        report: dict[str, Any] = {
            "database": {
                "url": runtime.database.engine.url.render_as_string(hide_password=True),
                "mode": "embedded (SQLite)" if runtime.settings.is_embedded_database else "server",
            },
            "job_transport": "database (jobs table)",
        }
        try:
            await runtime.database.ping()
            current = await runtime.database.current_revision()
            report["database"].update(ok=True, revision=current, head=head_revision(),
                                      schema_current=current == head_revision())
            if current is not None:
                async with runtime.database.transaction() as session:
                    report["jobs"] = await jobs_repository.count_by_status(session)
                    ledger_check = await check_ledger(session)
                report["ledger"] = {"ok": ledger_check.ok, "transactions": ledger_check.transactions,
                                    "problems": ledger_check.problems[:50]}
        except Exception as exc:
            report["database"].update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return report

    report = run_with_runtime(run)
    healthy = (bool(report["database"].get("ok")) and bool(report["database"].get("schema_current"))
               and bool(report.get("ledger", {}).get("ok", False)))
    report["healthy"] = healthy
    typer.echo(json.dumps(report, indent=None if as_json else 2, default=str))
    if not healthy:
        raise typer.Exit(code=1)
