"""`seawall operator-key new --name N --scope S`: a fresh operator key, printed once, and the entry
to add to `SEAWALL_OPERATOR_KEYS` (its SHA-256 digest: the key itself is never configured or stored)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from seawall.operator_keys import OperatorKey, OperatorScope, key_digest, new_operator_key, validate_name

app = typer.Typer(help="Make operator keys for /admin (see docs/runbook.md, 'Rotate an operator key').",
                  no_args_is_help=True)


def _name(value: str) -> str:
    try:
        return validate_name(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("new")
def new(
    name: Annotated[str, typer.Option(help="The key's name, e.g. ci-2026-11 (seen in the audit log)",
                                      callback=_name)],
    scope: Annotated[OperatorScope, typer.Option(
        help="read: GET /admin routes; operate: every /admin route; metrics: GET /metrics only")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print a fresh key (once: it is not stored anywhere) and its `SEAWALL_OPERATOR_KEYS` entry."""
    key = new_operator_key()
    entry = OperatorKey(name=name, scope=scope, digest=key_digest(key)).entry
    if as_json:
        typer.echo(json.dumps({"name": name, "scope": scope.value, "key": key, "entry": entry}))
        return
    typer.echo(f"key (shown once; hand it to the operator, then forget it): {key}")
    typer.echo(f"entry (add to SEAWALL_OPERATOR_KEYS, comma or newline separated): {entry}")
