"""The webhooks objects routes need, as `Annotated` dependencies filled by the app factory.

- `WebhookGatewayDep`: the process's webhook machinery (`WebhookGateway`: settings, SSRF guard, sender).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from seawall.web.services import ServiceSlot
from seawall.webhooks.gateway import WebhookGateway

WEBHOOK_GATEWAY: ServiceSlot[WebhookGateway] = ServiceSlot("webhook_gateway")

WebhookGatewayDep = Annotated[WebhookGateway, Depends(WEBHOOK_GATEWAY)]
