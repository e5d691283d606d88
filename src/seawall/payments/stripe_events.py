"""Applying a stored Stripe event to the payment state and the ledger: `payments.apply_provider_event`.

Every change goes through the rules the charge and refund jobs use (`outcomes`, `settlement`,
`ledger`, the state tables in `state`), so an event and a job that report the same fact settle it
once, whichever runs first: never two ledger entries, never two receipts.

    event type                       effect
    payment_intent.succeeded         the intent's final outcome (`outcomes.settle_from_intent`):
    payment_intent.payment_failed    settles a payment that is not settled yet; a settled one stays
                                     as it is (a `failed` after `succeeded` changes nothing; a
                                     `succeeded` after `failed` is logged as a conflict for a person)
    charge.refunded                  each refund in `data.object.refunds` (API versions before
    refund.created, refund.updated   2022-11-15 list them on the charge) or the refund itself (the
                                     refund events, sent for every refund from 2024-10-28) not yet
                                     known by its provider refund id: one of ours
                                     (`metadata.seawall_refund_id`) is settled by the refund job's rule
                                     (`outcomes.settle_from_refund`); a succeeded one made elsewhere (the
                                     provider's dashboard) is recorded as a new refund and settled the
                                     same way (`amount_refunded`, the state, the ledger, `RefundIssued`
                                     → the receipt)
    charge.dispute.created           the payment is flagged (`dispute_id`, `dispute_status`; its status
                                     keeps following captures and refunds) and the funds the dispute's
                                     `balance_transactions` withdrew (amount and dispute fee) are written
                                     to the ledger (`settlement.record_dispute`)
    anything else                    stored, not applied (`ignored`)

An event for a payment Seawall does not know is stored and logged (`unknown_payment`), not an error.
A refund or dispute for a payment that is not captured here yet (events may arrive before the
charge settles) is retried with backoff until it is. The row's `outcome` records what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.jobs import JobContext, PermanentJobError, RetryableJobError, job_handler
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.payments import repository, settlement
from seawall.payments.models import Payment, Refund
from seawall.payments.outcomes import IntentSucceeded, final_outcome, settle_from_intent, settle_from_refund
from seawall.payments.provider_events import APPLY_EVENT_JOB
from seawall.payments.state import CAPTURED_STATUSES, PaymentStatus, RefundStatus
from seawall.providers.payments import SEAWALL_PAYMENT_ID_KEY
from seawall.providers.stripe_events import StripeEvent, parse_event
from seawall.providers.stripe_objects import parse_intent, parse_refund

log = structlog.get_logger("seawall.payments.stripe_events")

MAX_PROVIDER_ID_LENGTH = 48  # `dispute:<id>` must fit the ledger's 64-character transaction id
NOT_CAPTURED_RETRY_SECONDS = 5.0


@job_handler(APPLY_EVENT_JOB, queue="payments", max_attempts=20, backoff_cap_seconds=300.0, timeout_seconds=60)
async def apply_provider_event(ctx: JobContext[Any]) -> None:
    row_id = str(ctx.payload["provider_event_id"])
    row = await repository.get_provider_event(ctx.session, row_id, for_update=True)
    if row is None:
        raise PermanentJobError(f"provider event {row_id} does not exist")
    if row.processed_at is not None:
        return
    outcome = await apply_stripe_event(ctx.session, clock=ctx.clock, event=parse_event(row.payload.encode("utf-8")))
    row.outcome = outcome
    row.processed_at = ctx.clock.now()
    log.info("provider_event.applied", provider=row.provider, event_id=row.event_id, event_type=row.event_type,
             outcome=outcome)


async def apply_stripe_event(session: AsyncSession, *, clock: Clock, event: StripeEvent) -> str:
    """Apply one verified event (see the module's table) in the caller's transaction; its outcome."""
    try:
        match event.type:
            case "payment_intent.succeeded" | "payment_intent.payment_failed":
                return await _apply_intent(session, clock=clock, event=event)
            case "charge.refunded":
                return await _apply_charge_refunded(session, clock=clock, event=event)
            case "refund.created" | "refund.updated":
                return await _apply_refund(session, clock=clock, event=event)
            case "charge.dispute.created":
                return await _apply_dispute(session, clock=clock, event=event)
            case _:
                return "ignored"
    except (KeyError, TypeError, ValueError) as exc:
        log.error("provider_event.malformed", event_id=event.id, event_type=event.type, error=str(exc))
        return "malformed"


async def _payment_for(session: AsyncSession, *, metadata: Any, intent_id: Any) -> Payment | None:
    """The payment an object belongs to: by `metadata.seawall_payment_id`, else by the intent id."""
    payment_id = metadata.get(SEAWALL_PAYMENT_ID_KEY) if isinstance(metadata, Mapping) else None
    if isinstance(payment_id, str) and payment_id:
        payment = await repository.get_payment(session, payment_id)
        if payment is not None and payment.provider_intent_id in (None, intent_id):
            return payment
    if isinstance(intent_id, str) and intent_id:
        return await repository.find_payment_by_intent(session, intent_id)
    return None


def _unknown(event: StripeEvent, reference: Any) -> str:
    log.warning("provider_event.unknown_payment", event_id=event.id, event_type=event.type, reference=reference)
    return "unknown_payment"


async def _apply_intent(session: AsyncSession, *, clock: Clock, event: StripeEvent) -> str:
    intent = parse_intent(event.object, False)
    payment = await _payment_for(session, metadata=intent.metadata, intent_id=intent.id)
    if payment is None:
        return _unknown(event, intent.id)
    if (intent.amount, intent.currency.lower()) != (payment.amount, payment.currency):
        log.error("provider_event.amount_mismatch", event_id=event.id, payment_id=payment.id,
                  ours=f"{payment.amount} {payment.currency}", theirs=f"{intent.amount} {intent.currency}")
        return "amount_mismatch"
    outcome = final_outcome(intent)
    if outcome is None:
        return "no_final_outcome"
    changed = await settle_from_intent(session, clock=clock, payment_id=payment.id, intent=intent)
    if changed:
        return "applied"
    if isinstance(outcome, IntentSucceeded) and payment.status == PaymentStatus.FAILED:
        # The provider captured a payment settled here as failed: only a person can sort that out.
        log.error("provider_event.conflicts_with_settled", event_id=event.id, payment_id=payment.id,
                  ours=payment.status, theirs=intent.status)
        return "conflicts_with_settled"
    return "already_settled"


async def _captured_payment(session: AsyncSession, event: StripeEvent, payment: Payment) -> str | None:
    """None when the payment is captured here; an outcome when it never will be; retries otherwise."""
    if payment.status in CAPTURED_STATUSES:
        return None
    if payment.status == PaymentStatus.FAILED:
        log.error("provider_event.conflicts_with_settled", event_id=event.id, payment_id=payment.id,
                  ours=payment.status, theirs=event.type)
        return "conflicts_with_settled"
    raise RetryableJobError(f"payment {payment.id} is {payment.status}; {event.type} waits for the capture",
                              retry_after=NOT_CAPTURED_RETRY_SECONDS)


async def _apply_charge_refunded(session: AsyncSession, *, clock: Clock, event: StripeEvent) -> str:
    charge = event.object
    payment = await _payment_for(session, metadata=charge.get("metadata"), intent_id=charge.get("payment_intent"))
    if payment is None:
        return _unknown(event, charge.get("payment_intent") or charge.get("id"))
    not_captured = await _captured_payment(session, event, payment)
    if not_captured is not None:
        return not_captured
    listed = charge.get("refunds")
    refunds = listed.get("data") if isinstance(listed, Mapping) else None
    if not isinstance(refunds, list):
        # API versions from 2022-11-15 leave `refunds` out of the charge: the refund.* events name them.
        return "no_refund_list"
    outcomes = {await _record_provider_refund(session, clock=clock, event=event, payment=payment, refund=refund)
                for refund in sorted(refunds, key=lambda r: (int(r["created"]), str(r["id"])))}
    for outcome in (REFUND_INCONSISTENT, APPLIED):  # the one an operator must see first
        if outcome in outcomes:
            return outcome
    return ALREADY_KNOWN


async def _apply_refund(session: AsyncSession, *, clock: Clock, event: StripeEvent) -> str:
    refund = event.object
    payment = await _payment_for(session, metadata=refund.get("metadata"), intent_id=refund.get("payment_intent"))
    if payment is None:
        return _unknown(event, refund.get("payment_intent") or refund.get("id"))
    not_captured = await _captured_payment(session, event, payment)
    if not_captured is not None:
        return not_captured
    return await _record_provider_refund(session, clock=clock, event=event, payment=payment, refund=refund)


APPLIED, ALREADY_KNOWN, REFUND_INCONSISTENT = "applied", "already_known", "refund_inconsistent"


async def _record_provider_refund(session: AsyncSession, *, clock: Clock, event: StripeEvent, payment: Payment,
                                  refund: Mapping[str, Any]) -> str:
    """Settle one provider refund unless it is already known: `applied` when it changed something,
    `already_known`, or `refund_inconsistent` (another currency, or more than is left to refund: logged,
    not recorded, for an operator to check)."""
    provider_refund = parse_refund(refund, False)
    if len(provider_refund.id) > 255:
        raise ValueError(f"refund id of {len(provider_refund.id)} characters")
    if await repository.find_refund_by_provider_id(session, provider_refund.id) is not None:
        return ALREADY_KNOWN
    ours_id = provider_refund.seawall_refund_id
    ours = await repository.get_refund(session, ours_id) if ours_id else None
    if ours is not None and ours.payment_id == payment.id:
        if ours.status == RefundStatus.FAILED and provider_refund.succeeded:
            log.error("provider_event.refund_conflicts_with_settled", event_id=event.id, refund_id=ours.id,
                      provider_refund_id=provider_refund.id)
        if ours.status != RefundStatus.PENDING:
            return ALREADY_KNOWN  # settled by the refund job already
        settled = await settle_from_refund(session, clock=clock, refund_id=ours.id, provider_refund=provider_refund)
        return APPLIED if settled else ALREADY_KNOWN
    if not provider_refund.succeeded:
        return ALREADY_KNOWN  # made elsewhere and not (yet) through: a later event says how it ended
    amount = provider_refund.amount
    if provider_refund.currency.lower() != payment.currency or amount <= 0 \
            or payment.amount_refunded + amount > payment.amount:
        log.error("provider_event.refund_inconsistent", event_id=event.id, payment_id=payment.id,
                  provider_refund_id=provider_refund.id, amount=amount, refunded=payment.amount_refunded)
        return REFUND_INCONSISTENT
    now = clock.now()
    made_elsewhere = Refund(id=new_id("rfd"), payment_id=payment.id, amount=amount, status=RefundStatus.PENDING,
                            provider_refund_id=provider_refund.id, created_at=now, updated_at=now)
    session.add(made_elsewhere)
    await session.flush()
    log.info("provider_event.refund_recorded", event_id=event.id, payment_id=payment.id,
             refund_id=made_elsewhere.id, provider_refund_id=provider_refund.id, amount=amount)
    settled = await settlement.settle_refund(session, clock=clock, refund_id=made_elsewhere.id, succeeded=True,
                                             provider_refund_id=provider_refund.id)
    return APPLIED if settled else ALREADY_KNOWN


def _withdrawals(dispute: Mapping[str, Any]) -> tuple[int, int]:
    """(amount, fee) the dispute's balance transactions took from the balance, minor units."""
    amount = fee = 0
    for transaction in dispute.get("balance_transactions") or []:
        if int(transaction["amount"]) < 0:
            amount += -int(transaction["amount"])
            fee += int(transaction.get("fee") or 0)
    return amount, fee


async def _apply_dispute(session: AsyncSession, *, clock: Clock, event: StripeEvent) -> str:
    dispute = event.object
    payment = await _payment_for(session, metadata=dispute.get("metadata"), intent_id=dispute.get("payment_intent"))
    if payment is None:
        return _unknown(event, dispute.get("payment_intent") or dispute.get("charge"))
    dispute_id = str(dispute["id"])
    if not 0 < len(dispute_id) <= MAX_PROVIDER_ID_LENGTH:
        raise ValueError(f"dispute id of {len(dispute_id)} characters")
    amount, fee = _withdrawals(dispute)
    if amount > payment.amount or str(dispute.get("currency", payment.currency)).lower() != payment.currency:
        log.error("provider_event.dispute_inconsistent", event_id=event.id, payment_id=payment.id, amount=amount)
        return "amount_mismatch"
    recorded = await settlement.record_dispute(
        session, clock=clock, payment_id=payment.id, dispute_id=dispute_id,
        dispute_status=str(dispute.get("status") or "needs_response"), withdrawn=amount, fee=fee,
        currency=payment.currency)
    if recorded is None:
        not_captured = await _captured_payment(session, event, payment)
        return not_captured or "already_known"
    if recorded:
        log.warning("provider_event.dispute_opened", event_id=event.id, payment_id=payment.id,
                    dispute_id=dispute_id, withdrawn=amount, fee=fee)
        return "applied"
    return "already_known"
