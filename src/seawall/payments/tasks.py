"""Payment job handlers: `payments.charge` and `payments.refund`.

Exactly-once charging:
- the provider idempotency key is the Seawall payment id (refund id for refunds), and every intent
  is tagged `metadata[seawall_payment_id]`;
- before sending, the payment is marked `processing`, its route (provider) is fixed, and
  `provider_outcome_unknown` is set: from then on a crash, timeout or lost response leaves a
  record that the provider may hold an intent;
- an attempt that finds that mark looks the intent up first and settles from what it finds (an
  intent with no final outcome yet is checked again later, never sent again: the provider keeps
  idempotency keys only ~24 h, a job replayed from the dead-letter queue may come days later); only
  if none is found does it send again to the same provider with the same key (the provider answers
  from its idempotency store if the first request did arrive);
- once an attempt may have reached the provider, a refusal of a later request (e.g. a 401 after a
  key rotation) proves nothing about the earlier one: the charge (or refund) is retried, never
  settled as failed, until the provider answers for it (or reconciliation does);
- failover to the fallback route happens only when the primary certainly did not take the charge
  (connection refused, breaker open or bulkhead full before sending, 429) and no earlier attempt
  could have reached it. One Seawall payment therefore never has two intents at one provider, nor
  intents at two providers.
Refunds follow the same rules (`refund_payment`): the refund id as key and metadata, the mark on the
refund row, the lookup among the intent's refunds before any send after an unknown outcome.
Calls refused before sending (breaker open, bulkhead full) defer the job without spending an
attempt; retries after real failures spend the provider's retry budget, and an empty budget
defers them to the cap of the backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog

from seawall.chaos.crash_points import crash_point
from seawall.jobs import DeferJobError, JobContext, PermanentJobError, RetryableJobError, job_handler
from seawall.payments import repository, settlement
from seawall.payments.gateway import PRIMARY, PaymentGateway
from seawall.payments.outcomes import settle_from_intent, settle_from_refund
from seawall.payments.state import SETTLED_STATUSES, PaymentStatus, RefundStatus, check_payment_transition
from seawall.providers.errors import (
    CardDeclinedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from seawall.providers.payments import SEAWALL_PAYMENT_ID_KEY, SEAWALL_REFUND_ID_KEY
from seawall.resilience import CallRejectedError

log = structlog.get_logger("seawall.payments.tasks")

CHARGE_BACKOFF_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class ChargeSnapshot:
    payment_id: str
    amount: int
    currency: str
    payment_method: str
    description: str | None
    route: str
    may_exist_at_provider: bool  # an earlier attempt may have reached the provider


class PaymentsJobRuntime(Protocol):
    """What the payment handlers use of the process runtime (`ctx.runtime`)."""

    @property
    def payments(self) -> PaymentGateway: ...


PaymentsJobContext = JobContext[PaymentsJobRuntime]


async def _begin_charge(ctx: PaymentsJobContext, payment_id: str, gateway: PaymentGateway) -> ChargeSnapshot | None:
    async with ctx.transaction() as session:
        payment = await repository.get_payment(session, payment_id, for_update=True)
        if payment is None:
            raise PermanentJobError(f"payment {payment_id} does not exist")
        if payment.status in SETTLED_STATUSES:
            return None
        if payment.status == PaymentStatus.PENDING:
            payment.status = check_payment_transition(payment.status, PaymentStatus.PROCESSING)
        snapshot = ChargeSnapshot(
            payment_id=payment.id, amount=payment.amount, currency=payment.currency,
            payment_method=payment.payment_method, description=payment.description,
            route=payment.route_name or PRIMARY, may_exist_at_provider=payment.provider_outcome_unknown,
        )
        payment.route_name = snapshot.route
        payment.provider_outcome_unknown = True  # from here on, a send may reach the provider
        payment.updated_at = ctx.clock.now()
    return snapshot


async def _not_sent(ctx: PaymentsJobContext, snapshot: ChargeSnapshot, gateway: PaymentGateway) -> str:
    """The route certainly did not take the charge: undo the mark and pick the next route."""
    next_route = snapshot.route
    if not snapshot.may_exist_at_provider and snapshot.route == PRIMARY and gateway.fallback is not None:
        next_route = gateway.fallback
    async with ctx.transaction() as session:
        payment = await repository.get_payment(session, snapshot.payment_id, for_update=True)
        if payment is not None and payment.status == PaymentStatus.PROCESSING:
            payment.provider_outcome_unknown = snapshot.may_exist_at_provider
            payment.route_name = next_route
    return next_route


def _retry(ctx: PaymentsJobContext, gateway: PaymentGateway, route: str, exc: Exception) -> RetryableJobError:
    budget = gateway.route(route).policy.budget
    after_timeout = isinstance(exc, TimeoutError) or (
        isinstance(exc, ProviderUnavailableError) and exc.outcome == "unknown")
    if not budget.try_spend(after_timeout=after_timeout):
        return DeferJobError(f"{route}: retry budget exhausted; deferred", retry_after=CHARGE_BACKOFF_CAP_SECONDS)
    retry_after = exc.retry_after if isinstance(exc, ProviderUnavailableError | CallRejectedError) else None
    return RetryableJobError(f"{route}: {exc}", retry_after=retry_after)


# The backoff base is the engine's (`SEAWALL_JOB_BACKOFF_BASE_SECONDS`, 1 s by default); the cap is ours.
@job_handler("payments.charge", queue="payments", max_attempts=12,
             backoff_cap_seconds=CHARGE_BACKOFF_CAP_SECONDS, timeout_seconds=120)
async def charge_payment(ctx: PaymentsJobContext) -> None:
    gateway = ctx.runtime.payments
    payment_id = str(ctx.payload["payment_id"])
    snapshot = await _begin_charge(ctx, payment_id, gateway)
    if snapshot is None:
        return
    route = gateway.route(snapshot.route)
    try:
        intent = await route.send_once(
            may_exist_at_provider=snapshot.may_exist_at_provider,
            look_up=lambda: route.provider.find_payment_intent(seawall_payment_id=payment_id),
            send=lambda: route.provider.create_payment_intent(
                amount=snapshot.amount, currency=snapshot.currency, payment_method=snapshot.payment_method,
                idempotency_key=payment_id, metadata={SEAWALL_PAYMENT_ID_KEY: payment_id},
                description=snapshot.description), action="charge")
    except CardDeclinedError as declined:
        crash_point("payments.after_provider_call")  # a decline is an answer too: the intent exists
        await settlement.settle_failed(ctx.session, clock=ctx.clock, payment_id=payment_id,
                                       code=declined.decline_code or declined.code or "card_declined",
                                       message=declined.message, intent_id=declined.payment_intent_id)
        return
    except ProviderRejectedError as rejected:
        crash_point("payments.after_provider_call")
        if snapshot.may_exist_at_provider:  # this request was refused, but an earlier one may have charged
            raise RetryableJobError(f"{snapshot.route} refused the request and an earlier attempt may have "
                                    f"charged; the payment stays processing: {rejected.message}") from None
        await settlement.settle_failed(ctx.session, clock=ctx.clock, payment_id=payment_id,
                                       code=rejected.code or "provider_rejected", message=rejected.message)
        return
    except CallRejectedError as refused:  # breaker open or bulkhead full: nothing was sent
        next_route = await _not_sent(ctx, snapshot, gateway)
        raise DeferJobError(f"{snapshot.route}: {refused.message}; next try via {next_route}",
                            retry_after=0.0 if next_route != snapshot.route else refused.retry_after) from None
    except ProviderUnavailableError as unavailable:
        if unavailable.certainly_not_processed:
            next_route = await _not_sent(ctx, snapshot, gateway)
            if next_route != snapshot.route:
                raise DeferJobError(f"{snapshot.route} did not take it; failing over to {next_route}",
                                    retry_after=0.0) from None
        raise _retry(ctx, gateway, snapshot.route, unavailable) from None
    except TimeoutError as timeout:
        raise _retry(ctx, gateway, snapshot.route, timeout) from None
    crash_point("payments.after_provider_call")
    if await settle_from_intent(ctx.session, clock=ctx.clock, payment_id=payment_id, intent=intent) is None:
        raise RetryableJobError(f"intent {intent.id} is {intent.status}; checking again later")


@dataclass(frozen=True)
class RefundSnapshot:
    refund_id: str
    payment_id: str
    intent_id: str
    amount: int
    route: str
    marked: bool  # the row said an earlier attempt may have reached the provider
    may_exist_at_provider: bool  # ... or this is not the first attempt


async def _begin_refund(ctx: PaymentsJobContext, refund_id: str) -> RefundSnapshot | None:
    async with ctx.transaction() as session:
        refund = await repository.get_refund(session, refund_id, for_update=True)
        if refund is None:
            raise PermanentJobError(f"refund {refund_id} does not exist")
        if refund.status != RefundStatus.PENDING:
            return None
        payment = await repository.get_payment(session, refund.payment_id)
        assert payment is not None
        if not payment.provider_intent_id or not payment.route_name:
            raise PermanentJobError(f"payment {payment.id} has no captured intent to refund")
        snapshot = RefundSnapshot(
            refund_id=refund.id, payment_id=payment.id, intent_id=payment.provider_intent_id, amount=refund.amount,
            route=payment.route_name, marked=refund.provider_outcome_unknown,
            may_exist_at_provider=refund.provider_outcome_unknown or ctx.job.attempt > 1,
        )
        refund.provider_outcome_unknown = True  # from here on, a send may reach the provider
        refund.updated_at = ctx.clock.now()
    return snapshot


async def _refund_not_sent(ctx: PaymentsJobContext, snapshot: RefundSnapshot) -> None:
    """The provider certainly did not take this attempt's request: undo this attempt's mark."""
    async with ctx.transaction() as session:
        refund = await repository.get_refund(session, snapshot.refund_id, for_update=True)
        if refund is not None and refund.status == RefundStatus.PENDING:
            refund.provider_outcome_unknown = snapshot.marked


# Exactly once as the charge: the refund id is the idempotency key and `metadata[seawall_refund_id]`;
# the row is marked before sending; an attempt after an unknown outcome (the mark, or any attempt
# after the first — a replay from the dead-letter queue starts again at attempt 1, the mark stays)
# lists the intent's refunds and adopts ours instead of sending again (`PaymentRoute.send_once`).
@job_handler("payments.refund", queue="payments", max_attempts=12,
             backoff_cap_seconds=CHARGE_BACKOFF_CAP_SECONDS, timeout_seconds=120)
async def refund_payment(ctx: PaymentsJobContext) -> None:
    gateway = ctx.runtime.payments
    refund_id = str(ctx.payload["refund_id"])
    snapshot = await _begin_refund(ctx, refund_id)
    if snapshot is None:
        return
    route = gateway.route(snapshot.route)
    try:
        result = await route.send_once(
            may_exist_at_provider=snapshot.may_exist_at_provider,
            look_up=lambda: route.provider.find_refund(payment_intent_id=snapshot.intent_id,
                                                       seawall_refund_id=refund_id),
            send=lambda: route.provider.create_refund(
                payment_intent_id=snapshot.intent_id, amount=snapshot.amount, idempotency_key=refund_id,
                metadata={SEAWALL_REFUND_ID_KEY: refund_id, SEAWALL_PAYMENT_ID_KEY: snapshot.payment_id}),
            action="refund")
    except (ProviderRejectedError, CardDeclinedError) as rejected:
        crash_point("payments.after_provider_call")
        if snapshot.may_exist_at_provider:  # this request was refused, but an earlier attempt may have refunded
            raise RetryableJobError(f"{snapshot.route} refused the request and an earlier attempt may have made "
                                    f"the refund; it stays pending: {rejected.message}") from None
        await settlement.settle_refund(ctx.session, clock=ctx.clock, refund_id=refund_id, succeeded=False,
                                       provider_refund_id=None, message=rejected.message)
        return
    except CallRejectedError as refused:  # breaker open or bulkhead full: nothing was sent
        await _refund_not_sent(ctx, snapshot)
        raise DeferJobError(f"{snapshot.route}: {refused.message}", retry_after=refused.retry_after) from None
    except ProviderUnavailableError as unavailable:
        if unavailable.certainly_not_processed:
            await _refund_not_sent(ctx, snapshot)
        raise _retry(ctx, gateway, snapshot.route, unavailable) from None
    except TimeoutError as timeout:
        raise _retry(ctx, gateway, snapshot.route, timeout) from None
    crash_point("payments.after_provider_call")
    if await settle_from_refund(ctx.session, clock=ctx.clock, refund_id=refund_id, provider_refund=result) is None:
        raise RetryableJobError(f"refund {result.id} is {result.status}; checking again later")
from seawall.payments import stripe_events as stripe_events  # noqa: E402,F401  (registers payments.apply_provider_event)
