"""Local fake providers with fault injection, for tests, the demo and `seawall sandbox`.

- `payments.py`: a Stripe-compatible payments API; `sms.py`: a Twilio-style SMS API — both in one
  ASGI app (`app.py`) with seedable fault injection (`faults.py`);
- `smtp.py`: an SMTP sink (aiosmtpd) that counts deliveries per Message-ID, with SMTP faults;
- `webhook_receiver.py`: a receiver that verifies Standard Webhooks signatures (run in process by
  the demo and the tests);
- `server.py`: serves them in process (`SandboxServer`) or standalone (`seawall sandbox`).
Only the CLI and the tests import this package.
"""

from importlib import import_module
from typing import Any

# Loaded on first use (PEP 562): importing one piece (the webhook receiver, say) does not load the
# others (aiosmtpd, their apps). The CLI imports this package only inside the commands that need it.
_EXPORTS = {
    "SandboxState": "app", "create_sandbox_app": "app",
    "FaultConfig": "faults", "FaultKind": "faults", "RequestStats": "faults",
    "TEST_PAYMENT_METHODS": "payments", "IntentRecord": "payments", "PaymentsLedger": "payments",
    "RefundRecord": "payments",
    "SandboxServer": "server", "SandboxSettings": "server", "run_sandbox": "server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"seawall.sandbox.{module}"), name)


__all__ = [
    "TEST_PAYMENT_METHODS",
    "FaultConfig",
    "FaultKind",
    "IntentRecord",
    "PaymentsLedger",
    "RefundRecord",
    "RequestStats",
    "SandboxServer",
    "SandboxSettings",
    "SandboxState",
    "create_sandbox_app",
    "run_sandbox",
]
