"""The webhooks objects routes need, as `Annotated` dependencies filled by the app factory.

- `WebhookClientDep`: the process's webhook machinery (`WebhookClient`: settings, SSRF guard, sender).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from seawall.web.services import ServiceSlot
from seawall.webhooks.client import WebhookClient

WEBHOOK_CLIENT: ServiceSlot[WebhookClient] = ServiceSlot("webhook_client")

WebhookClientDep = Annotated[WebhookClient, Depends(WEBHOOK_CLIENT)]
