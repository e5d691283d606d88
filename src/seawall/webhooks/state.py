"""The endpoint and delivery state machines as explicit tables; an illegal transition raises.

    endpoint:  active ──► disabled            (410 Gone, or failing for `disable_after_seconds`)

    delivery:  pending ──► succeeded ──┐      (a 2xx answer)
                  │  ▲                 │
                  ▼  └── (replay) ─────┤      replay and recover send it again, on a fresh schedule
               failed ─────────────────┘      (schedule exhausted, 410, endpoint disabled)
"""

from __future__ import annotations

from enum import StrEnum

from seawall.kit.transitions import Transitions
from seawall.webhooks.errors import IllegalWebhookTransitionError


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ENDPOINT_TRANSITIONS: dict[EndpointStatus, frozenset[EndpointStatus]] = {
    EndpointStatus.ACTIVE: frozenset({EndpointStatus.DISABLED}),
    EndpointStatus.DISABLED: frozenset(),
}

DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED}),
    DeliveryStatus.SUCCEEDED: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),
}


ENDPOINTS = Transitions("a webhook endpoint", EndpointStatus, ENDPOINT_TRANSITIONS,
                        error=IllegalWebhookTransitionError)
DELIVERIES = Transitions("a webhook delivery", DeliveryStatus, DELIVERY_TRANSITIONS,
                         error=IllegalWebhookTransitionError)

check_endpoint_transition = ENDPOINTS.check
"""`target` when an endpoint may go from `current` to it; `IllegalWebhookTransitionError` (409) otherwise."""
check_delivery_transition = DELIVERIES.check
"""`target` when a delivery may go from `current` to it; `IllegalWebhookTransitionError` (409) otherwise."""
