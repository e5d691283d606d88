"""`seawall sandbox`: the fake providers with fault injection, on one HTTP port."""

from __future__ import annotations

from typing import Annotated

import typer

from seawall.sandbox.server import DEFAULT_PORT, run_sandbox


def sandbox(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = DEFAULT_PORT,
) -> None:
    """Run the sandbox providers (a Stripe-compatible payments API under /v1) with fault injection.

    Faults come from SEAWALL_SANDBOX_FAULTS (JSON) or SEAWALL_SANDBOX_FAULTS__<FIELD>, and can be
    changed at runtime with POST /_sandbox/faults.
    """
    from seawall.config import Settings
    from seawall.observability.logging import configure_logging

    settings = Settings()
    configure_logging(level=settings.log_level, json_output=settings.log_json)
    typer.echo(f"Seawall sandbox on http://{host}:{port}  (payments: /v1, steering: /_sandbox)", err=True)
    run_sandbox(host=host, port=port)
