"""The endpoint and delivery state machines as explicit tables; an illegal transition raises.

    endpoint:  active ──► disabled            (410 Gone, or failing for `disable_after_seconds`)

    delivery:  pending ──► succeeded ──┐      (a 2xx answer)
                  │  ▲                 │
                  ▼  └── (replay) ─────┤      replay and recover send it again, on a fresh schedule
               failed ─────────────────┘      (schedule exhausted, 410, endpoint disabled)
"""

from __future__ import annotations

from enum import StrEnum

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


def check_endpoint_transition(current: str, target: EndpointStatus) -> EndpointStatus:
    source = EndpointStatus(current)
    if target not in ENDPOINT_TRANSITIONS[source]:
        raise IllegalWebhookTransitionError(f"a webhook endpoint cannot go from {source} to {target}")
    return target


def check_delivery_transition(current: str, target: DeliveryStatus) -> DeliveryStatus:
    source = DeliveryStatus(current)
    if target not in DELIVERY_TRANSITIONS[source]:
        raise IllegalWebhookTransitionError(f"a webhook delivery cannot go from {source} to {target}")
    return target
