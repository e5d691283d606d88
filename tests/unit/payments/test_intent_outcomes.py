"""The intent → settlement rule shared by the charge job and reconciliation (`payments.outcomes`):
a succeeded intent settles as succeeded, a refused or canceled one as failed with the provider's
reason, anything else has no final outcome yet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seawall.payments.outcomes import IntentFailed, IntentSucceeded, final_outcome
from seawall.providers.payments import PaymentFailure, PaymentIntentResult


def intent(status: str, failure: PaymentFailure | None = None) -> PaymentIntentResult:
    return PaymentIntentResult(id="pi_1", status=status, amount=500, amount_received=0, currency="usd",
                               created=datetime(2030, 1, 1, tzinfo=UTC), last_failure=failure)


def test_a_succeeded_intent_settles_as_succeeded() -> None:
    assert final_outcome(intent("succeeded")) == IntentSucceeded(intent_id="pi_1")


def test_a_refused_intent_settles_as_failed_with_the_decline_code_first() -> None:
    declined = PaymentFailure(kind="card_error", code="card_declined", decline_code="insufficient_funds",
                              message="Your card has insufficient funds.")
    assert final_outcome(intent("requires_payment_method", declined)) == IntentFailed(
        intent_id="pi_1", code="insufficient_funds", message="Your card has insufficient funds.")
    bare = PaymentFailure(kind="card_error", code="card_declined", decline_code=None, message=None)
    assert final_outcome(intent("requires_payment_method", bare)) == IntentFailed(
        intent_id="pi_1", code="card_declined", message="intent requires_payment_method")


def test_a_canceled_intent_without_a_failure_settles_as_failed_with_its_status() -> None:
    assert final_outcome(intent("canceled")) == IntentFailed(intent_id="pi_1", code="canceled",
                                                             message="intent canceled")


@pytest.mark.parametrize("status", ["processing", "requires_action", "requires_confirmation", "requires_capture"])
def test_an_intent_without_a_final_answer_settles_nothing(status: str) -> None:
    assert final_outcome(intent(status)) is None
