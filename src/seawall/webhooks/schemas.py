"""Wire shapes of the webhooks API. The signing secret appears in `WebhookEndpointCreatedOut` only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from seawall.kit.bounds import bounded_datetime
from seawall.kit.wire import StrictModel
from seawall.webhooks.catalogue import EventType

SECRET_NOT_SHOWN = (
    "The signing secret is shown only in the original response to this request and is not stored "
    "with it. If it was lost, delete this endpoint and create a new one."
)


def _unique(values: list[str]) -> list[str]:
    return sorted(set(values))


class WebhookEndpointIn(StrictModel):
    url: Annotated[str, Field(min_length=1, max_length=2048, description="http(s) URL on the public internet")]
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=20), AfterValidator(_unique)]


class RecoverIn(StrictModel):
    since: Annotated[datetime, AfterValidator(bounded_datetime),
                     Field(description="send again every failed delivery created at or after this time")]


class WebhookEndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    event_types: list[str]
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    throttled_until: datetime | None
    created_at: datetime


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret: str | None = Field(description="whsec_...: verify signatures with it; shown once, here")
    secret_note: str | None = None


class WebhookEndpointPageOut(BaseModel):
    data: list[WebhookEndpointOut]
    next_cursor: str | None


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="the webhook-id header of every attempt")
    event_id: str
    endpoint_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryPageOut(BaseModel):
    data: list[WebhookDeliveryOut]
    next_cursor: str | None


class RecoverOut(BaseModel):
    recovered: int
    has_more: bool = Field(description="more failed deliveries are left: call again")
