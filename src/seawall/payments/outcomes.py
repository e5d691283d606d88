"""What a provider PaymentIntent (or Refund) means for the Seawall payment (or refund) it belongs
to: the one rule shared by the charge job and reconciliation (and the refund job).

    intent status                               outcome
    succeeded                                   settle as succeeded (intent id recorded)
    requires_payment_method, canceled           settle as failed: code = the last failure's decline
                                                code, else its code, else the intent status;
                                                message = the last failure's message, else
                                                "intent <status>"
    anything else (processing, requires_action, no final outcome yet: nothing is settled
    requires_confirmation, ...)

    refund status                               outcome
    succeeded                                   settle the refund as succeeded (refund id recorded)
    failed, canceled                            settle the refund as failed: "refund <status>"
    anything else (pending, requires_action)    no final outcome yet: nothing is settled
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.kit.clock import Clock
from seawall.payments import settlement
from seawall.providers.payments import PaymentIntentResult, RefundResult

FAILED_INTENT_STATUSES = frozenset({"requires_payment_method", "canceled"})
FAILED_REFUND_STATUSES = frozenset({"failed", "canceled"})


@dataclass(frozen=True, slots=True)
class IntentSucceeded:
    intent_id: str


@dataclass(frozen=True, slots=True)
class IntentFailed:
    intent_id: str
    code: str | None
    message: str


IntentOutcome = IntentSucceeded | IntentFailed


def final_outcome(intent: PaymentIntentResult) -> IntentOutcome | None:
    """The intent's final outcome (see the table in the module docstring); None while it has none."""
    if intent.succeeded:
        return IntentSucceeded(intent_id=intent.id)
    if intent.status in FAILED_INTENT_STATUSES:
        failure = intent.last_failure
        return IntentFailed(
            intent_id=intent.id,
            code=(failure.decline_code or failure.code) if failure else intent.status,
            message=failure.message if failure and failure.message else f"intent {intent.status}",
        )
    return None


async def settle_from_intent(session: AsyncSession, *, clock: Clock, payment_id: str,
                             intent: PaymentIntentResult) -> bool | None:
    """Settle the payment from its intent, in the caller's transaction: None when the intent has no
    final outcome yet (nothing is written), else whether the payment changed (False: it was already
    settled)."""
    outcome = final_outcome(intent)
    if outcome is None:
        return None
    if isinstance(outcome, IntentSucceeded):
        return await settlement.settle_succeeded(session, clock=clock, payment_id=payment_id,
                                                 intent_id=outcome.intent_id)
    return await settlement.settle_failed(session, clock=clock, payment_id=payment_id, code=outcome.code,
                                          message=outcome.message, intent_id=outcome.intent_id)


async def settle_from_refund(session: AsyncSession, *, clock: Clock, refund_id: str,
                             provider_refund: RefundResult) -> bool | None:
    """Settle the refund from the provider's refund, in the caller's transaction (see the table in
    the module docstring): None when it has no final outcome yet (nothing is written), else whether
    the refund changed (False: it was already settled)."""
    if provider_refund.succeeded:
        return await settlement.settle_refund(session, clock=clock, refund_id=refund_id, succeeded=True,
                                              provider_refund_id=provider_refund.id)
    if provider_refund.status in FAILED_REFUND_STATUSES:
        return await settlement.settle_refund(session, clock=clock, refund_id=refund_id, succeeded=False,
                                              provider_refund_id=provider_refund.id,
                                              message=f"refund {provider_refund.status}")
    return None

