"""The payments objects routes need, as `Annotated` dependencies filled by the app factory.

- `PaymentGatewayDep`: the process's payment routes (`PaymentGateway`: provider, resilience policy).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from seawall.payments.gateway import PaymentGateway
from seawall.web.services import ServiceSlot

PAYMENT_GATEWAY: ServiceSlot[PaymentGateway] = ServiceSlot("payment_gateway")

PaymentGatewayDep = Annotated[PaymentGateway, Depends(PAYMENT_GATEWAY)]
