"""Webhook endpoint routes: parse, authorize, call one service function, shape the answer.

The signing secret is in the creation response only. The idempotency record stores that response
*without* it (`secret: null` and a note), so a replayed request never shows it again: the secret
exists in one place, the endpoint row that signs with it. (Deriving it from the server key and the
endpoint id would let it be shown again, but would tie every endpoint's secret to the server key:
leaking or rotating that key would leak or change them all.)
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts.auth import CurrentPrincipal
from seawall.accounts.reads import UserReadSessionDep
from seawall.idempotency.api import IdempotencyDep
from seawall.ratelimit.user_limits import UserLimitsDep
from seawall.web.deps import ClockDep, SessionDep
from seawall.web.errors import error_responses
from seawall.webhooks import service
from seawall.webhooks.deps import WebhookClientDep
from seawall.webhooks.schemas import (
    SECRET_NOT_SHOWN,
    RecoverIn,
    RecoverOut,
    WebhookDeliveryOut,
    WebhookDeliveryPageOut,
    WebhookEndpointCreatedOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPageOut,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookEndpointCreatedOut,
             responses=error_responses(400, 401, 409, 413, 422, 429, 503))
async def create_webhook_endpoint(
    body: WebhookEndpointIn, principal: CurrentPrincipal, client: WebhookClientDep, clock: ClockDep,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Register a URL for some event types; the answer holds its signing secret, shown this once."""
    shown: dict[str, str] = {}

    async def operation(session: AsyncSession) -> WebhookEndpointCreatedOut:
        endpoint = await service.create_endpoint(
            session, clock=clock, guard=client.guard, max_endpoints=client.settings.max_endpoints_per_user,
            user_id=principal.user.id, url=body.url, event_types=body.event_types)
        shown["secret"] = endpoint.secret
        stored = WebhookEndpointOut.model_validate(endpoint).model_dump()
        return WebhookEndpointCreatedOut(**stored, secret=None, secret_note=SECRET_NOT_SHOWN)

    response = await idempotency.run(
        scope=principal.user.id, body=body.model_dump(mode="json"), status_code=201, operation=operation)
    if "secret" not in shown:
        return response  # a replay: the stored body, without the secret
    first = json.loads(bytes(response.body))
    first.update(secret=shown["secret"], secret_note=None)
    return JSONResponse(first, status_code=response.status_code)


@router.get("", responses=error_responses(400, 401, 422, 429, 503))
async def list_webhook_endpoints(principal: CurrentPrincipal, session: UserReadSessionDep, limit: Limit = 20,
                                 cursor: Cursor = None) -> WebhookEndpointPageOut:
    endpoints, next_cursor = await service.list_endpoints_of(
        session, user_id=principal.user.id, limit=limit, cursor=cursor)
    return WebhookEndpointPageOut(data=[WebhookEndpointOut.model_validate(e) for e in endpoints],
                                  next_cursor=next_cursor)


@router.get("/{endpoint_id}", responses=error_responses(401, 404, 429, 503))
async def get_webhook_endpoint(endpoint_id: str, principal: CurrentPrincipal, session: UserReadSessionDep
                               ) -> WebhookEndpointOut:
    endpoint = await service.get_endpoint_of(session, user_id=principal.user.id, endpoint_id=endpoint_id)
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 404, 429, 503))
async def delete_webhook_endpoint(endpoint_id: str, principal: CurrentPrincipal, session: SessionDep) -> Response:
    await service.delete_endpoint_of(session, user_id=principal.user.id, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpoint_id}/deliveries", responses=error_responses(400, 401, 404, 422, 429, 503))
async def list_webhook_deliveries(
    endpoint_id: str, principal: CurrentPrincipal, session: UserReadSessionDep, limit: Limit = 20,
    cursor: Cursor = None,
    delivery_status: Annotated[str | None, Query(alias="status", description="pending, succeeded or failed")] = None,
) -> WebhookDeliveryPageOut:
    deliveries, next_cursor = await service.list_deliveries_of(
        session, user_id=principal.user.id, endpoint_id=endpoint_id, status=delivery_status, limit=limit,
        cursor=cursor)
    return WebhookDeliveryPageOut(data=[WebhookDeliveryOut.model_validate(d) for d in deliveries],
                                  next_cursor=next_cursor)


@router.get("/{endpoint_id}/deliveries/{delivery_id}", responses=error_responses(401, 404, 429, 503))
async def get_webhook_delivery(endpoint_id: str, delivery_id: str, principal: CurrentPrincipal,
                               session: UserReadSessionDep) -> WebhookDeliveryOut:
    delivery = await service.get_delivery_of(
        session, user_id=principal.user.id, endpoint_id=endpoint_id, delivery_id=delivery_id)
    return WebhookDeliveryOut.model_validate(delivery)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED,
             response_model=WebhookDeliveryOut, responses=error_responses(400, 401, 404, 409, 422, 429, 503))
async def replay_webhook_delivery(
    endpoint_id: str, delivery_id: str, principal: CurrentPrincipal, clock: ClockDep, idempotency: IdempotencyDep,
    limits: UserLimitsDep,
) -> JSONResponse:
    """Send this delivery again now, with the same webhook-id; a failure retries on a fresh schedule.
    Limited per user with recoveries (`SEAWALL_RATE_LIMIT_WEBHOOK_SENDS_PER_USER`)."""
    await limits.webhook_sends(user_id=principal.user.id)

    async def operation(session: AsyncSession) -> WebhookDeliveryOut:
        delivery = await service.replay_delivery(
            session, clock=clock, user_id=principal.user.id, endpoint_id=endpoint_id, delivery_id=delivery_id)
        return WebhookDeliveryOut.model_validate(delivery)

    return await idempotency.run(
        scope=principal.user.id, body={"endpoint_id": endpoint_id, "delivery_id": delivery_id},
        status_code=202, operation=operation)


@router.post("/{endpoint_id}/recover", status_code=status.HTTP_202_ACCEPTED, response_model=RecoverOut,
             responses=error_responses(400, 401, 404, 409, 413, 422, 429, 503))
async def recover_webhook_deliveries(
    endpoint_id: str, body: RecoverIn, principal: CurrentPrincipal, clock: ClockDep, idempotency: IdempotencyDep,
    limits: UserLimitsDep,
) -> JSONResponse:
    """Send again every failed delivery created since `since` (after an outage of the receiver).
    Limited per user with replays (`SEAWALL_RATE_LIMIT_WEBHOOK_SENDS_PER_USER`)."""
    await limits.webhook_sends(user_id=principal.user.id)

    async def operation(session: AsyncSession) -> RecoverOut:
        recovered, has_more = await service.recover_deliveries(
            session, clock=clock, user_id=principal.user.id, endpoint_id=endpoint_id, since=body.since)
        return RecoverOut(recovered=recovered, has_more=has_more)

    return await idempotency.run(
        scope=principal.user.id, body={"endpoint_id": endpoint_id, **body.model_dump(mode="json")},
        status_code=202, operation=operation)
