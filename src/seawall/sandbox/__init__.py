"""Local fake providers with fault injection, for tests, the demo and `seawall sandbox`.

Today: a Stripe-compatible payments API (`payments.py`) behind seedable fault injection
(`faults.py`), in one ASGI app (`app.py`) served in process or standalone (`server.py`).
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
