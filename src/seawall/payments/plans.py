"""The plans a sign-up can buy (price in minor units). Product teams edit this table."""

from __future__ import annotations

from dataclasses import dataclass

from seawall.payments.errors import UnknownPlanError


@dataclass(frozen=True)
class Plan:
    code: str
    amount: int
    currency: str
    description: str


PLANS: dict[str, Plan] = {
    plan.code: plan
    for plan in (
        Plan("starter", 900, "usd", "Seawall Starter, monthly"),
        Plan("pro", 2900, "usd", "Seawall Pro, monthly"),
        Plan("business", 9900, "usd", "Seawall Business, monthly"),
    )
}


def plan_by_code(code: str) -> Plan:
    try:
        return PLANS[code]
    except KeyError:
        raise UnknownPlanError(f"unknown plan {code!r}; plans: {', '.join(sorted(PLANS))}") from None
