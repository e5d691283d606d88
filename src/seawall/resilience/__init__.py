"""Resilience for every remote call: timeouts, circuit breaker, bulkhead, retry budget, and the
policy that ties them together per provider; breaker openings are shared across processes through
Redis in server mode (`shared`)."""

from seawall.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker
from seawall.resilience.budget import RetryBudget
from seawall.resilience.bulkhead import Bulkhead
from seawall.resilience.errors import BulkheadFullError, CallRejectedError, CircuitOpenError
from seawall.resilience.policy import CallOutcome, ProviderPolicy, policy_from_settings
from seawall.resilience.shared import SharedBreakerState
from seawall.resilience.telemetry import ProviderTelemetry

__all__ = [
    "BreakerConfig",
    "BreakerState",
    "Bulkhead",
    "BulkheadFullError",
    "CallOutcome",
    "CallRejectedError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ProviderPolicy",
    "ProviderTelemetry",
    "RetryBudget",
    "SharedBreakerState",
    "policy_from_settings",
]
