"""`seawall dlq list|show|replay|purge`: the dead-letter queue from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from seawall.admin.schemas import JobAttemptOut, JobOut
from seawall.cli.runner import run_with_runtime
from seawall.jobs import dead_letters
from seawall.jobs.models import Job, JobAttempt
from seawall.runtime import Runtime

app = typer.Typer(help="Inspect, replay and purge dead-lettered jobs.", no_args_is_help=True)
console = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


@app.command("list")
def list_dead(
    status: Annotated[str, typer.Option(help="Job status to list")] = "dead",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs (dead ones by default), newest first."""

    async def run(runtime: Runtime) -> tuple[list[Job], str | None]:
        async with runtime.database.read_transaction() as session:
            return await dead_letters.list_jobs(session, status=status, limit=limit, cursor=cursor)

    jobs, next_cursor = run_with_runtime(run)
    if as_json:
        typer.echo(json.dumps({"data": [JobOut.model_validate(j).model_dump(mode="json") for j in jobs],
                               "next_cursor": next_cursor}))
        return
    table = Table("id", "kind", "queue", "status", "attempts", "last error")
    for job in jobs:
        first_line = (job.last_error or "").splitlines()[0] if job.last_error else ""
        table.add_row(str(job.id), job.kind, job.queue, job.status, f"{job.attempts}/{job.max_attempts}", first_line)
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}")


@app.command()
def show(job_id: int, as_json: JsonOption = False) -> None:
    """Show one job with its attempt history."""

    async def run(runtime: Runtime) -> tuple[Job, list[JobAttempt]]:
        async with runtime.database.read_transaction() as session:
            return await dead_letters.get_job(session, job_id)

    job, attempts = run_with_runtime(run)
    document = JobOut.model_validate(job).model_dump(mode="json")
    document["attempt_history"] = [JobAttemptOut.model_validate(a).model_dump(mode="json") for a in attempts]
    if as_json:
        typer.echo(json.dumps(document))
    else:
        console.print_json(data=document)


@app.command()
def replay(job_id: int) -> None:
    """Run a dead job again with a fresh attempt budget."""

    async def run(runtime: Runtime) -> Job:
        async with runtime.database.transaction() as session:
            return await dead_letters.replay(session, job_id, clock=runtime.clock)

    job = run_with_runtime(run)
    typer.echo(f"job {job.id} ({job.kind}) is queued again")


@app.command()
def purge(
    older_than_hours: Annotated[float | None, typer.Option(min=0, help="Only jobs dead for longer")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm deleting dead jobs")] = False,
) -> None:
    """Delete dead jobs (they are gone for good)."""
    if not yes:
        typer.echo("refusing to delete without --yes", err=True)
        raise typer.Exit(code=2)

    async def run(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            return await dead_letters.purge(session, older_than_hours=older_than_hours, clock=runtime.clock)

    typer.echo(f"deleted {run_with_runtime(run)} dead jobs")
