"""Errors raised by the resilience policy (breaker, bulkhead, retry budget) before a call is sent
(so the call certainly did not happen).

    SeawallError
    └── ServiceUnavailableError (503)
        └── CallRejectedError          the call was not sent
            ├── CircuitOpenError       the provider's breaker is open (or half-open and full)
            └── BulkheadFullError      the provider's concurrency cap is reached
"""

from __future__ import annotations

from seawall.errors import ServiceUnavailableError


class CallRejectedError(ServiceUnavailableError):
    error_type = "call_rejected"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CircuitOpenError(CallRejectedError):
    error_type = "circuit_open"


class BulkheadFullError(CallRejectedError):
    error_type = "bulkhead_full"
