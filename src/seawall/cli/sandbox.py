"""`seawall sandbox`: the fake providers with fault injection, on one HTTP port, plus the SMTP sink."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from seawall.cli.roles import exit_cleanly
from seawall.web.shutdown import SIGNALS

# `seawall.sandbox` is imported only when the command runs: the CLI loads this module in every
# process, and a production process must not load the fake providers.
DEFAULT_PORT = 12111  # payments, SMS and steering over HTTP
DEFAULT_SMTP_PORT = 12125  # the SMTP sink


def sandbox(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = DEFAULT_PORT,
    smtp_port: Annotated[int, typer.Option(help="Port of the SMTP sink (0: a free port)")] = DEFAULT_SMTP_PORT,
) -> None:
    """Run the sandbox providers with fault injection: a Stripe-compatible payments API under /v1,
    a Twilio-style SMS API under /2010-04-01, and an SMTP sink on its own port.

    Faults come from SEAWALL_SANDBOX_FAULTS (payments), SEAWALL_SANDBOX_SMS_FAULTS and
    SEAWALL_SANDBOX_SMTP_FAULTS (JSON), or one variable per field (SEAWALL_SANDBOX_FAULTS__<FIELD>),
    and can be changed at runtime with POST /_sandbox/faults, /_sandbox/sms/faults, /_sandbox/smtp/faults.

    Stripe webhook events go to SEAWALL_SANDBOX_STRIPE_WEBHOOK_URL, signed with
    SEAWALL_SANDBOX_STRIPE_WEBHOOK_SECRETS (comma separated); POST /_sandbox/stripe/webhooks changes
    that and their faults at runtime.
    """
    from seawall.config import Settings
    from seawall.observability.logging import configure_logging
    from seawall.sandbox.server import run_sandbox

    settings = Settings()
    configure_logging(level=settings.log_level, log_format=settings.resolved_log_format)
    typer.echo(f"Seawall sandbox on http://{host}:{port}  (payments: /v1, SMS: /2010-04-01, steering: /_sandbox)",
               err=True)
    # uvicorn stops on SIGTERM/SIGINT, then re-raises the signal to the previous handler: make that handler
    # a clean exit, so a stop (`docker compose stop`, a test) ends with status 0 as the other roles do.
    for sig in SIGNALS:
        signal.signal(sig, exit_cleanly)
    run_sandbox(host=host, port=port, smtp_port=smtp_port,
                on_smtp_ready=lambda bound: typer.echo(f"SMTP sink on {host}:{bound}", err=True))
