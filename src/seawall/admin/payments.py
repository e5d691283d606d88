"""Operator view of the payment routes of this process: breaker state, bulkhead, retry budget."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from seawall.payments.deps import PaymentGatewayDep
from seawall.web.deps import AdminDep

router = APIRouter(prefix="/admin/providers", tags=["admin"], dependencies=[AdminDep])


@router.get("")
async def provider_status(gateway: PaymentGatewayDep) -> dict[str, Any]:
    return {
        "routes": {
            name: {
                "breaker": route.policy.breaker.state.value,
                "bulkhead_in_flight": route.policy.bulkhead.in_flight,
                "bulkhead_peak": route.policy.bulkhead.peak_in_flight,
                "retry_budget_tokens": route.policy.budget.tokens,
            }
            for name, route in gateway.routes.items()
        },
        "breaker_transitions": [
            {"route": name, "from": old, "to": new} for name, old, new in gateway.transitions
        ],
    }
