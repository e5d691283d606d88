"""Stripe's answers, validated before anything is read from them (OWASP API10: unsafe consumption).

A 2xx body is parsed into these pydantic models — strict types (an amount is a JSON integer, never
`true`, `"12"` or `12.5`), Stripe's documented status values only, ids and currencies in Stripe's
form, timestamps a datetime can hold — and only then turned into the port's results
(`PaymentIntentResult`, `RefundResult`). Fields Seawall does not read are ignored (Stripe adds
fields without a version change). Anything else raises `pydantic.ValidationError` (a `ValueError`),
which the adapter turns into an unknown outcome: the provider may have acted, and the payment rules
look it up or retry with the same idempotency key; nothing is settled from an answer that does not
validate.

Sources: Stripe API reference, "The PaymentIntent object" (`status`: requires_payment_method,
requires_confirmation, requires_action, processing, requires_capture, canceled, succeeded) and
"The Refund object" (`status`: pending, requires_action, succeeded, failed, canceled), and list
answers (`object: "list"`, `data`, `has_more`; at most 100 per page).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, StringConstraints

from seawall.providers.payments import PaymentFailure, PaymentIntentResult, RefundResult

MAX_AMOUNT = 10**12  # far above any charge Seawall makes (its own bound is 99,999,999 minor units)
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds
MAX_SEARCH_RESULTS = 100  # Stripe's largest page

ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]
Amount = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
Timestamp = Annotated[StrictInt, Field(ge=0, le=MAX_TIMESTAMP)]
Text = Annotated[StrictStr, StringConstraints(max_length=5000)]
Metadata = Annotated[dict[Annotated[str, StringConstraints(max_length=40)], Annotated[StrictStr, StringConstraints(
    max_length=500)]], Field(max_length=50)]  # Stripe's metadata limits: 50 keys, 40-char keys, 500-char values

IntentStatus = Literal["requires_payment_method", "requires_confirmation", "requires_action", "processing",
                       "requires_capture", "canceled", "succeeded"]
RefundStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]


class StripeObject(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LastPaymentError(StripeObject):
    type: Text | None = None
    code: Text | None = None
    decline_code: Text | None = None
    message: Text | None = None


class PaymentIntentObject(StripeObject):
    id: ObjectId
    object: Literal["payment_intent"] = "payment_intent"
    status: IntentStatus
    amount: Amount
    amount_received: Amount | None = None
    currency: Currency
    created: Timestamp
    metadata: Metadata | None = None
    latest_charge: ObjectId | None = None  # an id: Seawall never asks Stripe to expand it
    last_payment_error: LastPaymentError | None = None


class RefundObject(StripeObject):
    id: ObjectId
    object: Literal["refund"] = "refund"
    status: RefundStatus
    amount: Amount
    currency: Currency
    payment_intent: ObjectId | None = None
    created: Timestamp
    metadata: Metadata | None = None


class RefundList(StripeObject):
    object: Literal["list"] = "list"
    data: Annotated[list[RefundObject], Field(max_length=MAX_SEARCH_RESULTS)]
    has_more: StrictBool


class PaymentIntentSearch(StripeObject):
    object: Literal["search_result"] = "search_result"
    data: Annotated[list[PaymentIntentObject], Field(max_length=MAX_SEARCH_RESULTS)]


def _timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_intent_result(intent: PaymentIntentObject, *, replayed: bool) -> PaymentIntentResult:
    error = intent.last_payment_error
    failure = None if error is None else PaymentFailure(kind=error.type, code=error.code,
                                                        decline_code=error.decline_code, message=error.message)
    return PaymentIntentResult(
        id=intent.id, status=intent.status, amount=intent.amount, amount_received=intent.amount_received or 0,
        currency=intent.currency, created=_timestamp(intent.created), metadata=dict(intent.metadata or {}),
        latest_charge=intent.latest_charge, last_failure=failure, replayed=replayed,
    )


def parse_intent(body: Any, replayed: bool) -> PaymentIntentResult:
    """A PaymentIntent answer; raises `pydantic.ValidationError` unless it is one."""
    return to_intent_result(PaymentIntentObject.model_validate(body), replayed=replayed)


def parse_intent_search(body: Any) -> list[PaymentIntentResult]:
    """A PaymentIntent search answer's intents; raises `pydantic.ValidationError` unless it is one."""
    return [to_intent_result(intent, replayed=False) for intent in PaymentIntentSearch.model_validate(body).data]


def parse_refund(body: Any, replayed: bool) -> RefundResult:
    """A Refund answer; raises `pydantic.ValidationError` unless it is one."""
    return to_refund_result(RefundObject.model_validate(body), replayed=replayed)


def parse_refund_list(body: Any) -> tuple[list[RefundResult], bool]:
    """A page of the refund list: its refunds and `has_more`; raises `pydantic.ValidationError`."""
    page = RefundList.model_validate(body)
    return [to_refund_result(refund, replayed=False) for refund in page.data], page.has_more


def to_refund_result(refund: RefundObject, *, replayed: bool) -> RefundResult:
    return RefundResult(
        id=refund.id, status=refund.status, amount=refund.amount, currency=refund.currency,
        payment_intent_id=refund.payment_intent, created=_timestamp(refund.created),
        metadata=dict(refund.metadata or {}), replayed=replayed,
    )
