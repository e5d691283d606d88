"""Provider routes: events a payment provider pushes to Seawall (`POST /v1/providers/stripe/events`).

No bearer token: the `Stripe-Signature` header is the authentication (see `provider_events`). The
route is off (404) until `SEAWALL_STRIPE_WEBHOOK_SECRETS` is set.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from seawall.payments import provider_events
from seawall.web.deps import ClockDep, SessionDep, SettingsDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/v1/providers", tags=["providers"])


class ProviderEventAck(BaseModel):
    """The event is stored (or was already): `duplicate` says it was a redelivery that changed nothing."""

    received: bool
    id: str
    type: str
    duplicate: bool


@router.post("/stripe/events", responses=error_responses(400, 404, 413, 422, 429, 503))
async def receive_stripe_event(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    stripe_signature: Annotated[str | None, Header(max_length=4096)] = None,
) -> ProviderEventAck:
    """A Stripe webhook event (the raw JSON body, signed in `Stripe-Signature`): stored once per event id
    and applied by a worker; answers 200 at once, and 200 again for a redelivery."""
    received = await provider_events.receive_stripe_event(
        session, clock=clock, secrets=settings.stripe_webhook_secret_list,
        tolerance_seconds=settings.stripe_webhook_tolerance_seconds, payload=await request.body(),
        signature=stripe_signature)
    return ProviderEventAck(received=True, id=received.event_id, type=received.event_type,
                            duplicate=received.duplicate)
