"""`seawall migrate`: move the schema to a revision, or check whether migrating suits a rolling deploy.

- `seawall migrate` upgrades to this release's head. Against a schema one expand revision ahead of it
  (a code rollback: this release runs against it, `seawall.schema.window`) it does nothing and exits
  0, so an older release's migration Job passes; further ahead it refuses (exit code 1).
- `--to REV` upgrades or downgrades to REV (`head`, `base`, a revision id or a unique prefix of one),
  printing each step applied, then the revision reached. An unknown REV is one line and exit code 2
  (a bad option); a database at a revision this release does not know (a later release's) is refused
  with one line and exit code 1.
- `--check` changes nothing: it prints the database's revision, this release's head, each pending
  (or extra) revision with its declaration, and the verdict of `seawall.schema.rollout`; exit code 0
  when migrating is safe for a rolling deploy (or there is nothing to do), 1 when it is not.
- `--json` prints either as one JSON document; so is a failure (below): Seawall's error shape,
  `{"error": {"type": ..., "message": ...}}`, on stdout, with the same exit code.
An unreachable database is one line and exit code 1, as for every command (`db.first_contact`); a
migration script that fails is `migration REV failed: <cause>`, exit code 1, nothing of the run kept.
An ambiguous REV (a prefix of several revisions) is refused with exit code 2, listing them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from seawall.cli.runner import run_with_runtime
from seawall.errors import SeawallError
from seawall.runtime import Runtime
from seawall.schema.declarations import DeclaredRevision, ScriptHistory
from seawall.schema.rollout import RolloutCheck, check_rollout
from seawall.schema.runner import AppliedStep, migrate_to
from seawall.schema.window import Position, accept, database_state

EXIT_BAD_OPTION = 2  # as typer's own for a bad option
T = TypeVar("T")


def migrate(
    to: Annotated[str, typer.Option(
        "--to", metavar="REV", help="Upgrade or downgrade to this revision (head, base, or a revision id)")] = "head",
    check: Annotated[bool, typer.Option("--check", help="Change nothing: say whether migrating to the head now is "
                                        "safe for a rolling deploy (exit 1 when not)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Bring the database schema to the newest revision (or --to REV); --check judges a rolling deploy."""
    code = ScriptHistory()
    if check and to != "head":
        _bad_option("--check judges the migration to the head; leave out --to")
    try:
        target = code.head if to == "head" else code.resolve(to)
    except ValueError as exc:
        _bad_option(f"--to: {exc}")
    if check:
        _check(code, as_json=as_json)
        return

    async def run(runtime: Runtime) -> tuple[list[AppliedStep], str | None, str]:
        if to == "head":  # a schema ahead of this release: nothing to do when it runs against it, else refused
            state = await database_state(runtime.database, code)
            if state.position in (Position.AHEAD_COMPATIBLE, Position.OUT_OF_WINDOW):
                accept(state, warn=False)
                return [], state.database_revision, (f"one expand revision ahead of this release's {code.head}, "
                                                     "which runs against it: nothing to migrate")
        steps = await migrate_to(runtime.database, target or "base")
        return steps, await runtime.database.current_revision(), ""

    steps, revision, note = _run(run, as_json=as_json)
    if as_json:
        typer.echo(json.dumps({"steps": [step.__dict__ for step in steps], "revision": revision, "note": note}))
        return
    for step in steps:
        typer.echo(step.describe())
    typer.echo(f"database at revision {revision or 'base (empty)'}" + (f", {note}" if note else ""))


def _check(code: ScriptHistory, *, as_json: bool) -> None:
    async def run(runtime: Runtime) -> RolloutCheck:
        return check_rollout(await database_state(runtime.database, code), code)

    result = _run(run, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        typer.echo(_render(result))
    if not result.safe:
        raise typer.Exit(code=1)


def _run(operation: Callable[[Runtime], Awaitable[T]], *, as_json: bool) -> T:
    """`run_with_runtime`; with --json, a Seawall error (unreachable database, failed migration, schema
    out of reach) is printed as its JSON error body on stdout and exits 1, as the plain line would."""
    if not as_json:
        return run_with_runtime(operation)
    try:
        return run_with_runtime(operation)
    except SeawallError as exc:
        typer.echo(json.dumps(exc.to_body()))
        raise typer.Exit(code=1) from exc


def _render(result: RolloutCheck) -> str:
    lines = [f"database revision: {result.database_revision or 'none (empty database)'}",
             f"this release's head: {result.code_head}"]
    for title, revisions in (("pending", result.pending), ("ahead of this release", result.extra)):
        if revisions:
            lines.append(f"{title}:")
            lines.extend(_row(r) for r in revisions)
    lines.append(("safe for a rolling deploy: " if result.safe else "NOT safe for a rolling deploy: ") + result.verdict)
    if result.advice:
        lines.append(f"what to do: {result.advice}")
    return "\n".join(lines)


def _row(revision: DeclaredRevision) -> str:
    return f"  {revision.revision}  {revision.compatibility.value:<8}  {revision.reason}"


def _bad_option(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=EXIT_BAD_OPTION)
