"""`seawall doctor`: which backends are in use, are they reachable, is the schema current.

The schema counts as healthy when this release starts against it: at its head, or one expand
revision ahead (`schema`: `current`, `ahead_compatible`, `behind`, `out_of_window`; `seawall.schema.window`).

Also lists the operator keys configured (name and scope only). No secret setting is ever printed:
URLs show `***` for their password, and the report is scrubbed of every secret value.

Reports the database (embedded SQLite or server), the job transport (the jobs table, or RabbitMQ
with the depth of each queue and its dead-letter queue), Redis (or "in process"), the read replica
(if one is configured: in recovery?, its lag, where reads go; `replicas.report`), the jobs per
status, a ledger check, and the routine checks' latest runs (`routines`: the latest run of each of
reconcile, ledger and purge, and the latest that was not ok; `seawall.maintenance`). The database is
read in one read transaction (`Database.read_transaction`), which takes no write lock: doctor can run
beside an embedded server without holding up its writes. Exit code 1 when any configured backend is
unreachable, the schema is one this release does not start against, or the ledger disagrees; `failed`
names those checks (`healthy` is true when it is empty).
"""

from __future__ import annotations

import json
from typing import Any

import typer

from seawall.cli.runner import load_settings, run_with_runtime
from seawall.config import redact_secrets, reveal
from seawall.jobs.transport.health import broker_health
from seawall.maintenance.checks import inspect_database
from seawall.operator_keys import key_ring
from seawall.redis_link import redis_health
from seawall.replicas.report import replica_report
from seawall.runtime import Runtime
from seawall.schema.window import database_state


def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Check the database, job transport, Redis and the ledger (balanced, agrees with payments); exit 1 on a problem."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        report: dict[str, Any] = {
            "database": {
                "url": runtime.database.engine.url.render_as_string(hide_password=True),
                "mode": "embedded (SQLite)" if runtime.settings.is_embedded_database else "server",
            },
            "job_transport": await broker_health(runtime.settings),
            "redis": await redis_health(runtime.settings),
            "read_replica": await replica_report(runtime.settings, runtime.database),
            "operator_keys": [{"name": key.name, "scope": key.scope.value} for key in key_ring(
                reveal(runtime.settings.operator_keys), reveal(runtime.settings.admin_api_key)).keys],
        }
        try:
            await runtime.database.ping()
            schema = await database_state(runtime.database)
            current = schema.database_revision
            report["database"].update(ok=True, revision=current, head=schema.code_head,
                                      schema_current=current == schema.code_head, schema=schema.position.value,
                                      schema_starts=schema.starts)
            if current is not None:
                # An older schema has no routine_runs table yet: the rest is still worth reading.
                report.update(await inspect_database(runtime.database, with_routines=schema.starts))
        except Exception as exc:
            report["database"].update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return report

    settings = load_settings()
    report = run_with_runtime(run, settings=settings)
    report["failed"] = failed_checks(report)
    report["healthy"] = healthy = not report["failed"]
    # Errors quoted from a backend may echo what they were given: no secret setting is ever printed.
    typer.echo(redact_secrets(json.dumps(report, indent=None if as_json else 2, default=str), settings))
    if not healthy:
        raise typer.Exit(code=1)


def failed_checks(report: dict[str, Any]) -> list[str]:
    """The checks that make the report unhealthy, by name: `database` (unreachable), `schema` (one this
    release does not start against, though the database answers: `database.ok` stays true), `ledger`,
    `job_transport`, `redis`, `read_replica`. A check not run because an earlier one failed is not listed."""
    database = report["database"]
    failed = []
    if not database.get("ok"):
        failed.append("database")
    elif not database.get("schema_starts"):
        failed.append("schema")
    ledger_due = bool(database.get("ok")) and bool(database.get("schema_starts"))
    if ("ledger" in report or ledger_due) and not report.get("ledger", {}).get("ok", False):
        failed.append("ledger")
    failed.extend(name for name in ("job_transport", "redis", "read_replica") if not report[name].get("ok"))
    return failed
