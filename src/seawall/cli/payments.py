"""`seawall reconcile`: settle payments whose state disagrees with the provider's records."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from seawall.cli.runner import run_with_runtime
from seawall.payments.reconcile import ReconcileReport
from seawall.payments.reconcile import reconcile as reconcile_payments
from seawall.runtime import Runtime
from seawall.schema.window import prepare_schema


def reconcile(
    all_payments: Annotated[bool, typer.Option("--all", help="Check settled payments too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Compare payments with the provider (search by seawall_payment_id) and settle disagreements."""

    async def run(runtime: Runtime) -> ReconcileReport:
        await prepare_schema(runtime.database, migrate=False)
        return await reconcile_payments(runtime.database, runtime.payments, clock=runtime.clock,
                                        all_payments=all_payments)

    report = run_with_runtime(run)
    document = {"checked": report.checked, "settled": report.settled,
                "discrepancies": [asdict(d) for d in report.discrepancies],
                "unresolved": len(report.unresolved), "not_looked_up": report.not_looked_up}
    typer.echo(json.dumps(document, indent=None if as_json else 2))
    if report.unresolved:
        raise typer.Exit(code=1)
