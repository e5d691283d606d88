"""Local fake providers with fault injection, for tests, the demo and `seawall sandbox`.

- `payments.py`: a Stripe-compatible payments API; `sms.py`: a Twilio-style SMS API — both in one
  ASGI app (`app.py`) with seedable fault injection (`faults.py`);
- `smtp.py`: an SMTP sink (aiosmtpd) that counts deliveries per Message-ID, with SMTP faults;
- `webhook_receiver.py`: a receiver that verifies Standard Webhooks signatures (run in process by
  the demo and the tests);
- `server.py`: serves them in process (`SandboxServer`) or standalone (`seawall sandbox`).
Only the CLI and the tests import this package.
"""

from seawall.sandbox.app import SandboxState, create_sandbox_app
from seawall.sandbox.faults import FaultConfig, FaultKind, RequestStats
from seawall.sandbox.payments import TEST_PAYMENT_METHODS, IntentRecord, PaymentsLedger, RefundRecord
from seawall.sandbox.server import SandboxServer, SandboxSettings, run_sandbox

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
