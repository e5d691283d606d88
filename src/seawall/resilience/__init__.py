"""Resilience for every remote call: timeouts, circuit breaker, bulkhead, retry budget, and the
policy that ties them together per provider."""

from seawall.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker
from seawall.resilience.budget import RetryBudget
from seawall.resilience.bulkhead import Bulkhead
from seawall.resilience.errors import BulkheadFullError, CallRejectedError, CircuitOpenError
from seawall.resilience.policy import CallOutcome, ProviderPolicy, policy_from_settings

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
    "RetryBudget",
    "policy_from_settings",
]
