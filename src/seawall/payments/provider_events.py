"""Receiving provider events (`POST /v1/providers/stripe/events`): verify, store once, enqueue.

The route hands the raw body and the `Stripe-Signature` header to `receive_stripe_event`, which
- refuses everything while no signing secret is configured (404: the route is off);
- verifies the signature (`providers.stripe_events.verify_signature`: any `v1` under any configured
  secret, timestamp within the tolerance) — a failure is 400 `invalid_signature` and writes nothing;
- stores the event in `provider_events`, unique per (provider, event id): a redelivery finds the
  row and changes nothing more;
- enqueues `payments.apply_provider_event` in the same transaction (the outbox), so the event is
  applied by a worker if and only if it was stored; the answer (2xx) does not wait for that.
What applying an event does is `stripe_events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.errors import BadRequestError, NotFoundError
from seawall.jobs import enqueue
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.payments import repository
from seawall.payments.errors import InvalidSignatureError
from seawall.payments.models import ProviderEvent
from seawall.providers.stripe_events import (
    EventFormatError,
    SignatureVerificationError,
    parse_event,
    verify_signature,
)

log = structlog.get_logger("seawall.payments.provider_events")

STRIPE = "stripe"
APPLY_EVENT_JOB = "payments.apply_provider_event"


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    event_id: str  # the provider's (`evt_...`)
    event_type: str
    duplicate: bool  # already stored: nothing was done this time


async def receive_stripe_event(session: AsyncSession, *, clock: Clock, secrets: Sequence[str],
                               tolerance_seconds: float, payload: bytes, signature: str | None) -> ReceivedEvent:
    """Verify, store (once per event id) and enqueue a Stripe event, in the caller's transaction.

    Raises `NotFoundError` (404) with no secret configured, `InvalidSignatureError` (400) for a
    signature that does not verify, `BadRequestError` (400) for a verified body that is not an event.
    """
    if not secrets:
        raise NotFoundError("inbound Stripe events are off (SEAWALL_STRIPE_WEBHOOK_SECRETS is not set)")
    now = clock.now()
    try:
        verify_signature(payload, signature, secrets, now=now.timestamp(), tolerance_seconds=tolerance_seconds)
    except SignatureVerificationError as exc:
        log.warning("provider_event.signature_refused", provider=STRIPE, reason=str(exc))
        raise InvalidSignatureError(f"Stripe-Signature does not verify: {exc}") from None
    try:
        event = parse_event(payload)
    except EventFormatError as exc:
        raise BadRequestError(f"not a Stripe event: {exc}") from None
    row = ProviderEvent(id=new_id("pev"), provider=STRIPE, event_id=event.id, event_type=event.type,
                        payload=payload.decode("utf-8"), received_at=now, processed_at=None, outcome=None)
    if not await repository.insert_provider_event(session, row):
        log.info("provider_event.duplicate", provider=STRIPE, event_id=event.id, event_type=event.type)
        return ReceivedEvent(event_id=event.id, event_type=event.type, duplicate=True)
    await enqueue(session, APPLY_EVENT_JOB, {"provider_event_id": row.id},
                  dedup_key=f"{APPLY_EVENT_JOB}:{row.id}", clock=clock)
    log.info("provider_event.received", provider=STRIPE, event_id=event.id, event_type=event.type)
    return ReceivedEvent(event_id=event.id, event_type=event.type, duplicate=False)
